"""What the careers tests share: the small form's bounds, one profile, and a call of the JSON interface."""

from __future__ import annotations

import httpx

# A small form keeps the offline table small (10 families x 6 levels x 10 cities x 5 educations x 4 x 2 x 2).
MAX_YEARS, MAX_CERTIFICATIONS = 3, 1
PROFILE = {"job_family": "engineering", "level": "senior", "city": "seattle", "education": "master",
           "years_experience": "3", "certifications": "1", "remote": "false"}


def estimate(url: str, body, mode: str) -> httpx.Response:
    """POST the form to the site's JSON interface in ``mode`` (the first call of a mode may prepare it: minutes)."""
    return httpx.post(f"{url}/api/estimate", params={"mode": mode}, json=body, timeout=600)
