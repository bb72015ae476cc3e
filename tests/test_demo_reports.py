"""The demo seeds one report per case, matching the image's ground truth, once."""

from __future__ import annotations

from sqlmodel import select

from markit_core.accounts import get_user
from markit_core.demo.answers import demo_truth
from markit_core.demo.reports import seed_demo_reports
from markit_core.demo.seed import seed_demo
from markit_core.models import Case
from markit_core.reports import report_for_case


def test_demo_reports_follow_the_truth_and_are_not_duplicated(session, settings):
    demo = seed_demo(session, settings)
    cases = list(session.exec(select(Case).where(Case.project_id == demo.project_id)))
    truth = demo_truth(settings, cases)
    ann = get_user(session, "ann1")
    for case in cases:
        text = report_for_case(session, ann, case.id).text
        impression = text.split("IMPRESSION:")[1].lower()
        for label, present in truth[case.id].labels.items():
            assert (label in impression) == present, (case.id, label, text)
    again = seed_demo_reports(session, settings, get_user(session, "dataowner"), demo.project_id)
    assert again == f"demo reports: 0 added, {len(cases)} already present"
