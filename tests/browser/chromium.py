"""Debian's Chromium, driven by Playwright (never a downloaded browser: ``playwright
install`` downloads one and fails offline). Without the networking flags Chromium keeps
trying to reach hosts the machine cannot reach."""

import os

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
NO_CHROMIUM = "needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
