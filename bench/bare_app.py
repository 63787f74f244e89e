"""The ingest baseline: Flask with one route and nothing else.

It answers on the webhook's path so that the same load script drives both
targets; the gap between the two is what the real endpoint costs.
"""

from flask import Flask

app = Flask(__name__)


@app.post("/api/webhooks/stripe")
def ok():
    return "OK"
