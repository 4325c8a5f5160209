"""Property-based fuzzing of the HTTP API from its own OpenAPI spec (schemathesis): whatever the
input, the server never answers 5xx (except the documented 503/504 of a busy server)."""

import schemathesis
from hypothesis import HealthCheck, settings

from zsseg import Segmenter, SegmenterConfig
from zsseg.proposals import SlicProposals
from zsseg.server import ServerLimits, create_app
from zsseg.text_cache import TextEmbeddingCache

from .conftest import ColourBackend

app = create_app(
    Segmenter(
        ColourBackend(),
        SlicProposals(n_segments=(4,)),
        SegmenterConfig(model="colour-test", short_side=32),
        TextEmbeddingCache(None),
    ),
    ServerLimits(max_pixels=1_000_000),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_errors(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert "error" in response.json()
