"""The baselines: Flask with one route per measured endpoint and nothing else.

Each answers on the real endpoint's path so that the same load script drives
both targets; the gap between the two is what the real endpoint costs.
"""

from flask import Flask, redirect

app = Flask(__name__)


@app.post("/api/webhooks/stripe")
def ok():
    return "OK"


@app.get("/api/v1/customers/<path:external_id>/access")
def access(external_id: str):
    return {"external_id": external_id, "has_access": True}


@app.post("/api/billing/portal")
@app.post("/api/billing/checkout")
def billing_button():
    return redirect("https://billing.stripe.com/p/session/bench", code=303)
