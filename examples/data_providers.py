"""Data providers: options for a form field, cached per organization and parameters.

    kuberun run examples/data_providers.py --entrypoint regions -p cloud=gcp
    kuberun run examples/data_providers.py --entrypoint departments --config departments=HR,IT

A data provider returns a list of `{"label", "value", "metadata"?}`, or plain
strings (each becomes `{"label": s, "value": s}`). In a cluster the result is
cached in Redis for `cache_ttl_seconds` (per organization and parameters), so
a form asking again gets it without starting a pod.
"""

from kuberun import context, data_provider

REGIONS = {
    "aws": [("US East (N. Virginia)", "us-east-1"), ("EU (Frankfurt)", "eu-central-1")],
    "gcp": [("Iowa", "us-central1"), ("Belgium", "europe-west1")],
}


@data_provider(name="regions", category="Cloud", cache_ttl_seconds=300)
def regions(cloud: str = "aws") -> list[dict]:
    """Regions of a cloud provider."""
    return [
        {"label": label, "value": value, "metadata": {"cloud": cloud}}
        for label, value in REGIONS.get(cloud, [])
    ]


@data_provider(name="departments", description="The organization's departments", category="HR")
async def departments() -> list[str]:
    listed = await context.get_config("departments", default="Engineering,Sales,Support")
    return [name.strip() for name in listed.split(",") if name.strip()]
