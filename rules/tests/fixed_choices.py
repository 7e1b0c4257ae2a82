"""The engine's tests run without a database: the picklist fields, whose choices the
customers app reads from its picklist tables, are given the picklists' initial values
(today's built-in vocabularies) as fixed choices while they run (see conftest.py), and the
``products`` field no fixed catalogue (any product code is accepted)."""

from customers.models import BusinessModel, Industry, LifecycleStage, Plan, Region

FIXED_CHOICES: dict[str, tuple[str, ...]] = {
    "industry": tuple(Industry.values),
    "region": tuple(Region.values),
    "business_model": tuple(BusinessModel.values),
    "plan": tuple(Plan.values),
    "lifecycle_stage": tuple(LifecycleStage.values),
    "products": (),
}
