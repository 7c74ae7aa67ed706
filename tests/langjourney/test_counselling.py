from sqlalchemy import func, select

from langjourney.auth.models import AccessLog
from langjourney.counselling.models import CounsellingRequest


def test_learner_asks_once_and_a_counsellor_handles_it(client, auth, db_session):
    learner = auth.login("learner")
    bad = client.post("/counselling", data={"message": "", "contact_times": "evenings"})
    assert bad.status_code == 200 and "error-summary" in bad.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(CounsellingRequest)) == 0
    ok = client.post("/counselling", data={"message": "Which course after A2?", "contact_times": "Weekdays after 17"})
    assert ok.status_code == 302
    page = client.get("/counselling").get_data(as_text=True)
    assert "A counsellor will contact you" in page and "<textarea" not in page
    again = client.post("/counselling", data={"message": "Again", "contact_times": "any"}, follow_redirects=True)
    assert "already asked" in again.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(CounsellingRequest)) == 1

    counsellor = auth.login("counsellor")
    assert learner.full_name in client.get("/staff/counselling").get_data(as_text=True)
    view = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert "Which course after A2?" in view  # read on the learner's page, which is logged
    assert db_session.scalar(select(AccessLog).where(AccessLog.staff_id == counsellor.id)) is not None
    request = db_session.scalar(select(CounsellingRequest))
    assert client.post(f"/staff/counselling/{request.id}/done").status_code == 302
    assert client.post(f"/staff/counselling/{request.id}/done").status_code == 302  # a second click: no change
    db_session.refresh(request)
    assert request.handled_by_id == counsellor.id
    assert "There are no open requests" in client.get("/staff/counselling").get_data(as_text=True)
