"""The proportions and vocabularies the demo generator draws from: plausible shares of
industries, regions, plans and contract counts, log-normal ARR and company sizes, and the
words company names are made of. Weighted options are ``(value, weight)`` pairs."""

from decimal import Decimal

from customers.models import BusinessModel, Industry, Plan, Region

CENT = Decimal("0.01")

# Plausible proportions: (value, weight).
INDUSTRY_WEIGHTS = (
    (Industry.SOFTWARE, 22),
    (Industry.FINANCE, 12),
    (Industry.HEALTHCARE, 10),
    (Industry.RETAIL, 12),
    (Industry.MANUFACTURING, 10),
    (Industry.EDUCATION, 7),
    (Industry.MEDIA, 6),
    (Industry.LOGISTICS, 7),
    (Industry.PUBLIC_SECTOR, 4),
    (Industry.PROFESSIONAL_SERVICES, 10),
)
REGION_WEIGHTS = ((Region.NA, 45), (Region.EMEA, 30), (Region.APAC, 17), (Region.LATAM, 8))
COUNTRIES = {
    Region.NA: (("United States", 85), ("Canada", 15)),
    Region.EMEA: (
        ("United Kingdom", 28),
        ("Germany", 24),
        ("France", 16),
        ("Netherlands", 10),
        ("Sweden", 8),
        ("Spain", 8),
        ("United Arab Emirates", 6),
    ),
    Region.APAC: (
        ("Australia", 30),
        ("Japan", 22),
        ("India", 20),
        ("Singapore", 16),
        ("South Korea", 12),
    ),
    Region.LATAM: (("Brazil", 45), ("Mexico", 30), ("Chile", 13), ("Colombia", 12)),
}
NPS_WEIGHTS = tuple(zip(range(11), (1, 1, 1, 2, 2, 4, 6, 10, 14, 12, 8), strict=True))
CONTRACT_COUNT_WEIGHTS = ((1, 45), (2, 40), (3, 15))
BUSINESS_MODEL_WEIGHTS = ((BusinessModel.B2B, 75), (BusinessModel.B2C, 15), (BusinessModel.DTC, 10))
PLAN_WEIGHTS = ((Plan.FREE, 10), (Plan.STARTER, 38), (Plan.PRO, 37), (Plan.ENTERPRISE, 15))
# Log-normal ARR per plan: (median, sigma). Free accounts pay nothing.
ARR_LOGNORMAL = {
    Plan.STARTER: (6_000, 0.55),
    Plan.PRO: (32_000, 0.6),
    Plan.ENTERPRISE: (160_000, 0.7),
}
SEAT_PRICE = {Plan.FREE: None, Plan.STARTER: 480, Plan.PRO: 900, Plan.ENTERPRISE: 1_300}
EMPLOYEES_LOGNORMAL = {
    Plan.FREE: (25, 1.0),
    Plan.STARTER: (60, 0.9),
    Plan.PRO: (400, 0.9),
    Plan.ENTERPRISE: (5_000, 1.0),
}

NAME_FIRST = (
    "Acme", "Blue", "Bright", "Cedar", "Clear", "Cobalt", "Copper", "Crest", "Delta", "Ember",
    "Evergreen", "Falcon", "Fern", "Granite", "Harbor", "Helix", "Horizon", "Iron", "Juniper",
    "Keystone", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit",
    "Pacific", "Pine", "Pioneer", "Prism", "Quartz", "Radiant", "Red", "River", "Sable",
    "Sierra", "Silver", "Solar", "Spruce", "Stone", "Summit", "Swift", "Terra", "Tidal",
    "Vertex", "Willow", "Zenith",
)  # fmt: skip
NAME_SECOND = (
    "peak", "field", "line", "bridge", "wave", "stack", "point", "gate", "works", "path",
    "light", "forge", "leaf", "stream", "rock", "view", "wind", "mark", "shore", "loop",
)  # fmt: skip
NAME_SUFFIX = {
    Industry.SOFTWARE: ("Labs", "Software", "Cloud", "Systems", "AI"),
    Industry.FINANCE: ("Capital", "Financial", "Bank", "Payments", "Insurance"),
    Industry.HEALTHCARE: ("Health", "Medical", "Care", "Clinics", "Bio"),
    Industry.RETAIL: ("Retail", "Outfitters", "Market", "Goods", "Shop"),
    Industry.MANUFACTURING: ("Industries", "Manufacturing", "Components", "Materials"),
    Industry.EDUCATION: ("Academy", "Learning", "University", "Schools"),
    Industry.MEDIA: ("Media", "Studios", "Publishing", "Networks"),
    Industry.LOGISTICS: ("Logistics", "Freight", "Shipping", "Transport"),
    Industry.PUBLIC_SECTOR: ("County", "Agency", "Municipality", "Authority"),
    Industry.PROFESSIONAL_SERVICES: ("Partners", "Consulting", "Advisors", "Group"),
}
TLD = {Region.NA: ".com", Region.EMEA: ".eu", Region.APAC: ".io", Region.LATAM: ".la"}
