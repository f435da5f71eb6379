"""Configuration, secrets, files and integrations: what a workflow reaches besides its inputs.

    kuberun run examples/workflows --entrypoint export_report \\
        --config-file examples/config.env --secrets-file examples/secrets.env \\
        --integration crm=examples/integrations/crm.json

In a cluster the same values come from the namespace's ConfigMap
`kuberun-config`, its Secret `kuberun-secrets` and one Secret per integration,
mounted as files (never environment variables). Secret values are replaced by
`***` in every log line, the result, errors and captured variables: the log
below shows the API key's use, not the key. `files` writes the execution's own
temp directory (gone when it ends) or reads the workspace (this directory).
"""

import logging

from kuberun import IntegrationError, config, context, files, integrations, workflow

log = logging.getLogger(__name__)


@workflow(category="Reports", tags=["files", "config"])
async def export_report(rows: int = 3) -> dict:
    """Write a CSV report to the temp directory and say what it used."""
    title = await context.get_config("report_title", default="Report")
    api_key = await config.get("crm_api_key", default=None)  # a secret: shown as ***
    log.info("calling the CRM with key %s", api_key)
    try:
        crm = await integrations.get("crm")
        account = crm.entity_name
        authorization = crm.oauth.get_auth_header() if crm.oauth else None
    except IntegrationError as missing:
        log.warning("no CRM integration: %s", missing)
        account, authorization = None, None
    lines = ["id,value", *(f"{i},{i * i}" for i in range(rows))]
    await files.write("report.csv", "\n".join(lines), location="temp")
    written = await files.read("report.csv", location="temp")
    return {
        "title": title,
        "account": account,
        "authorization": authorization,  # the token is redacted: "Bearer ***"
        "temp_files": await files.list(location="temp"),
        "report_lines": len(written.splitlines()),
        "workspace_has_me": await files.exists("reports.py"),
    }
