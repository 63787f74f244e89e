"""The home page a person uses to click through without the service."""


def test_click_through_from_home(sandbox, http, client):
    home = http.get(sandbox.url + "/")
    assert home.status == 200 and "Test sandbox — not Stripe" in home.text
    assert "price_sbx_basic" in home.text
    start = http.post(
        sandbox.url + "/_sandbox/ui/checkout", form={"price": "price_sbx_pro", "email": "human@example.com"}
    )
    assert start.status == 303 and "/c/pay/cs_test_" in start.headers["Location"]
    paid = http.post(start.headers["Location"], form={"action": "pay", "card": "4242424242424242"})
    assert paid.status == 303 and "?paid=cs_test_" in paid.headers["Location"]
    home = http.get(sandbox.url + "/").text
    assert "human@example.com" in home and "checkout.session.completed" in home
    customer = client.v1.customers.list().data[0]
    portal = http.post(sandbox.url + "/_sandbox/ui/portal", form={"customer": customer.id})
    assert portal.status == 303 and "/p/session/bps_" in portal.headers["Location"]
    assert "Pro" in http.get(portal.headers["Location"]).text
    moved = http.post(sandbox.url + "/_sandbox/ui/advance", form={"days": "31"})
    assert moved.status == 303
    assert len(client.v1.invoices.list().data) == 2
