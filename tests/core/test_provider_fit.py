"""app.core.provider_fit: each part of the score, and nothing for a provider that fits in no way."""

from app.core.provider_fit import Need, Offer, fit

NEED = Need(
    country="TT",
    themes=frozenset({"export_control", "border_control"}),
    domains=frozenset(),
    help_sought="training",
    language="en",
)


def test_each_part_adds_its_weight() -> None:
    assert fit(NEED, Offer()) == (0, [])
    parts = {
        "themes": (Offer(themes=frozenset({"export_control"})), 0.175),
        "help": (Offer(activity_types=frozenset({"training"})), 0.15),
        "language": (Offer(languages=frozenset({"en"})), 0.1),
        "region": (Offer(regions=frozenset({"029"})), 0.1),
        "experience_theme": (Offer(with_state_on_theme=1), 0.06),
        "experience_state": (Offer(with_state=3), 0.08),
    }
    for code, (offer, weight) in parts.items():
        score, [reason] = fit(NEED, offer)
        assert (reason.code, score) == (code, weight), reason
    assert fit(NEED, Offer(regions=frozenset({"150"}))) == (0, [])  # Europe: not where TT is
    # Domains count only when the request names some.
    chemical = Need(**{**vars(NEED), "domains": frozenset({"chemical", "nuclear"})})
    score, [reason] = fit(chemical, Offer(domains=frozenset({"chemical"})))
    assert (reason.code, score) == ("domains", 0.05)
    everything = Offer(
        themes=frozenset(NEED.themes),
        activity_types=frozenset({"training"}),
        languages=frozenset({"en"}),
        regions=frozenset({"419"}),
        with_state=5,
        with_state_on_theme=4,
    )
    score, reasons = fit(NEED, everything)
    assert score == 0.9  # all but domains, which the request leaves open
    assert reasons[0].message == "offers border control, export control (2 of 2 themes asked)"
    region = next(r for r in reasons if r.code == "region")
    assert (
        region.message == "works in Latin America and the Caribbean, where Trinidad and Tobago is"
    )
