"""A data provider: options for a form field, cached per organization and parameters.

    kuberun run examples/data_providers.py --entrypoint regions -p cloud=gcp

It returns a list of `{"label", "value", "metadata"?}`. In a cluster the
result is cached in Redis for `cache_ttl_seconds` (per organization and
parameters), so a form asking again gets it without starting a pod.
"""

from kuberun import data_provider

REGIONS = {
    "aws": [("US East (N. Virginia)", "us-east-1"), ("EU (Frankfurt)", "eu-central-1")],
    "gcp": [("Iowa", "us-central1"), ("Belgium", "europe-west1")],
}


@data_provider(name="regions", cache_ttl_seconds=300)
def regions(cloud: str = "aws") -> list[dict]:
    """Regions of a cloud provider."""
    return [
        {"label": label, "value": value, "metadata": {"cloud": cloud}}
        for label, value in REGIONS.get(cloud, [])
    ]
