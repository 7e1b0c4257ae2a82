"""The built-in import profiles: HubSpot's companies export and Salesforce's accounts
export. Their definitions are written out here, not read from customers.import_profiles,
so the migration stays what it was when it ran.

Industries are kept as the CRM writes them (the industry picklist accepts new values, which
an import adds for review); lifecycle stages map onto the lifecycle picklist's values."""

from django.db import migrations


def _column(column, target, values=None):
    return {"column": column, "target": target, "values": values or {}, "keep_if_blank": True}


HUBSPOT_LIFECYCLE_STAGES = {
    "Subscriber": "trial",
    "Lead": "trial",
    "Marketing Qualified Lead": "trial",
    "Sales Qualified Lead": "trial",
    "Opportunity": "onboarding",
    "Customer": "adopting",
    "Evangelist": "mature",
}
SALESFORCE_TYPES = {
    "Prospect": "trial",
    "Customer - Direct": "adopting",
    "Customer - Channel": "adopting",
    "Channel Partner / Reseller": "adopting",
    "Installation Partner": "adopting",
    "Technology Partner": "adopting",
}

PROFILES = [
    {
        "name": "hubspot-companies",
        "label": "HubSpot companies export",
        "description": "Companies exported from HubSpot (CRM > Companies > Export, CSV).",
        "date_format": "%Y-%m-%d %H:%M",
        "columns": [
            _column("Record ID", "external_id"),
            _column("Company name", "name"),
            _column("Company Domain Name", "domain"),
            _column("Industry", "industry"),
            _column("Number of Employees", "employees"),
            _column("Country/Region", "country"),
            _column("Company owner", "owner"),
            _column("Lifecycle Stage", "lifecycle_stage", HUBSPOT_LIFECYCLE_STAGES),
            _column("Became a Customer Date", "customer_since"),
        ],
    },
    {
        "name": "salesforce-accounts",
        "label": "Salesforce accounts export",
        "description": "Accounts exported from Salesforce (a report or Data Export, CSV).",
        "date_format": "%m/%d/%Y",
        "columns": [
            _column("Account ID", "external_id"),
            _column("Account Name", "name"),
            _column("Website", "domain"),
            _column("Industry", "industry"),
            _column("Employees", "employees"),
            _column("Billing Country", "country"),
            _column("Type", "lifecycle_stage", SALESFORCE_TYPES),
            _column("Account Owner", "owner"),
            _column("Customer Since", "customer_since"),
        ],
    },
]


def create_profiles(apps, schema_editor):
    ImportProfile = apps.get_model("customers", "ImportProfile")
    for profile in PROFILES:
        ImportProfile.objects.update_or_create(
            name=profile["name"], defaults={**profile, "builtin": True}
        )


def delete_profiles(apps, schema_editor):
    ImportProfile = apps.get_model("customers", "ImportProfile")
    ImportProfile.objects.filter(name__in=[p["name"] for p in PROFILES], builtin=True).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_import_profiles_jobs")]

    operations = [migrations.RunPython(create_profiles, delete_profiles)]
