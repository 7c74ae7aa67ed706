"""The placement test in the web: flows, resume, stale and double submits, answer leakage, retakes,
staff access and the calibration round-trip."""
from __future__ import annotations

import csv
import difflib
import dataclasses
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from langjourney.auth.models import AccessLog, User
from langjourney.db import utcnow
from langjourney.testing import services, views
from langjourney.content import content
from langjourney.testing.models import (
    AttemptStatus, BankVersion, PlacementAttempt, PlacementResponse,
)
from tests.fixtures.factories import UserFactory, session_key

SEQ = re.compile(r'name="seq" type="hidden" value="(\d+)"')
CSRF = re.compile(r'(name="csrf_token" value=")[^"]*')


def _stable(page: str) -> str:
    """The page without its CSRF tokens, which are signed with the current second."""
    return CSRF.sub(r"\1", page)


def _item_page(client):
    response = client.get("/test/item")
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    return page, int(SEQ.search(page).group(1))


def _answer_for(page: str) -> str:
    return "0" if 'type="radio" name="answer"' in page else "maja"


def _run_test(client, limit=40):
    """Answer until the result; returns the result response."""
    for _ in range(limit):
        response = client.get("/test/item")
        if response.status_code == 302:
            return client.get(response.location)
        page = response.get_data(as_text=True)
        seq = int(SEQ.search(page).group(1))
        client.post("/test/answer", data={"seq": seq, "answer": _answer_for(page)})
    raise AssertionError("the test did not end")


def _attempt(db_session, learner) -> PlacementAttempt:
    return db_session.scalar(select(PlacementAttempt).where(PlacementAttempt.learner_id == learner.id)
                             .order_by(PlacementAttempt.id.desc()))


def _translated(app, locale, message):
    with app.test_request_context(), force_locale(locale):
        return gettext(message)


@pytest.mark.parametrize("locale", ["et", "en", "ru", "uk"])
def test_full_flow_in_each_language(app, client, auth, db_session, locale):
    heading = _translated(app, locale, "Your placement result")
    assert (heading == "Your placement result") == (locale == "en")
    learner = auth.login("learner", locale=locale)
    start = client.get("/test/").get_data(as_text=True)
    assert f'<html lang="{locale}">' in start
    assert client.post("/test/start").status_code == 302
    result = _run_test(client)
    page = result.get_data(as_text=True)
    assert result.status_code == 200 and heading in page
    attempt = _attempt(db_session, learner)
    assert attempt.status is AttemptStatus.FINISHED and attempt.level in page
    assert 8 <= attempt.seq <= 30
    assert db_session.scalar(select(func.count()).select_from(PlacementResponse)
                             .where(PlacementResponse.attempt_id == attempt.id)) == attempt.seq
    assert learner.profile.level == attempt.level and learner.profile.level_source == "placement"
    assert all(r.time_ms is not None for r in attempt.responses)
    assert '<svg class="skill-chart"' in page and "<table" in page  # chart with its data table


def test_reload_shows_the_same_item_and_resume_after_leaving(client, auth, db_session):
    auth.login("learner")
    client.post("/test/start")
    first, seq = _item_page(client)
    again, seq_again = _item_page(client)
    assert seq == seq_again
    first, again = _stable(first), _stable(again)
    assert first == again, "\n".join(difflib.unified_diff(first.splitlines(), again.splitlines(), lineterm=""))
    client.post("/test/answer", data={"seq": seq, "answer": _answer_for(first)})
    client.get("/logout")  # leaving: the pause keeps the attempt
    page, seq_after = _item_page(client)
    assert seq_after == seq + 1


def test_double_and_stale_submits_record_once(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    page, seq = _item_page(client)
    data = {"seq": seq, "answer": _answer_for(page)}
    assert client.post("/test/answer", data=data).status_code == 302
    second = client.post("/test/answer", data=data, follow_redirects=True)
    assert "out of date" in second.get_data(as_text=True)
    stale = client.post("/test/answer", data={"seq": seq + 5, "answer": "0"}, follow_redirects=True)
    assert "out of date" in stale.get_data(as_text=True)
    attempt = _attempt(db_session, learner)
    assert attempt.seq == 1
    assert [r.seq for r in attempt.responses] == [0]


def test_answer_without_its_csrf_token_is_refused_and_not_recorded(app, client, auth, db_session, monkeypatch):
    learner = auth.login("learner")
    client.post("/test/start")
    page, seq = _item_page(client)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    for token in (None, "forged"):
        data = {"seq": seq, "answer": _answer_for(page), **({"csrf_token": token} if token else {})}
        assert client.post("/test/answer", data=data).status_code == 400
    assert _attempt(db_session, learner).seq == 0
    page = client.get("/test/item").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/test/answer", data={"seq": seq, "answer": _answer_for(page),
                                             "csrf_token": token}).status_code == 302
    assert _attempt(db_session, learner).seq == 1


def test_empty_answer_is_refused_and_dont_know_counts_as_wrong(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    page, seq = _item_page(client)
    response = client.post("/test/answer", data={"seq": seq, "answer": ""})
    assert response.status_code == 200 and "error-summary" in response.get_data(as_text=True)
    assert _attempt(db_session, learner).seq == 0
    client.post("/test/answer", data={"seq": seq, "dont_know": "1"})
    attempt = _attempt(db_session, learner)
    assert attempt.seq == 1 and attempt.responses[0].correct is False


def test_one_open_attempt_per_learner(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    client.post("/test/start")
    assert db_session.scalar(select(func.count()).select_from(PlacementAttempt)
                             .where(PlacementAttempt.learner_id == learner.id)) == 1


def test_paused_longer_than_a_day_is_closed_and_scored(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    for _ in range(3):
        page, seq = _item_page(client)
        client.post("/test/answer", data={"seq": seq, "answer": _answer_for(page)})
    attempt = _attempt(db_session, learner)
    attempt.last_activity_at = utcnow() - timedelta(hours=25)
    db_session.commit()
    response = client.get("/test/item")
    assert response.status_code == 302 and f"/test/result/{attempt.id}" in response.location
    db_session.refresh(attempt)
    assert attempt.status is AttemptStatus.EXPIRED and attempt.level is not None and attempt.seq == 3
    assert "paused for more than 24 hours" in client.get(response.location).get_data(as_text=True)


def test_answers_never_reach_the_browser(client, auth, db_session, monkeypatch):
    """Every item page renders byte for byte the same whatever its right answer is."""
    auth.login("learner")
    client.post("/test/start")
    real = content()

    class WithoutAnswers:
        def __getattr__(self, name):
            return getattr(real, name)

        def item(self, item_id):
            item = real.item(item_id)
            return dataclasses.replace(item, answer=None, answers=tuple(("x",) for _ in item.answers))

    for _ in range(30):
        response = client.get("/test/item")
        if response.status_code != 200:
            break
        page = response.get_data(as_text=True)
        monkeypatch.setattr(views, "content", lambda: WithoutAnswers())
        blind = client.get("/test/item").get_data(as_text=True)
        monkeypatch.undo()
        assert _stable(page) == _stable(blind)
        item = real.item(_attempt(db_session, auth_user(db_session)).state["pending"])
        for accepted in item.answers:
            for answer in accepted:
                if item.type == "gap" and answer.lower() not in (item.text or "").lower():
                    assert f">{answer}<" not in page and f'"{answer}"' not in page
        seq = int(SEQ.search(page).group(1))
        client.post("/test/answer", data={"seq": seq, "answer": _answer_for(page)})


def auth_user(db_session):
    return db_session.scalar(select(PlacementAttempt)).learner


def test_retake_rules(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    _run_test(client)
    first = _attempt(db_session, learner)
    seen = {r.item_id for r in first.responses}
    refused = client.post("/test/start", follow_redirects=True).get_data(as_text=True)
    assert "less than 30 days ago" in refused
    assert db_session.scalar(select(func.count()).select_from(PlacementAttempt)) == 1

    counsellor = UserFactory(counsellor=True)
    services.allow_retake(learner, counsellor, "The learner was ill during the first test.")
    db_session.commit()
    assert client.post("/test/start").status_code == 302
    _run_test(client)
    second = _attempt(db_session, learner)
    assert second.id != first.id
    assert not seen & {r.item_id for r in second.responses}  # the next attempt avoids the last one's items
    # The permission is used up.
    assert "less than 30 days ago" in client.post("/test/start", follow_redirects=True).get_data(as_text=True)

    first.finished_at = second.finished_at = utcnow() - timedelta(days=31)
    db_session.commit()
    assert services.retake_status(learner).allowed


def test_staff_views_of_results_are_logged_and_others_refused(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    _run_test(client)
    attempt = _attempt(db_session, learner)
    auth.logout()
    other = auth.login("learner")
    assert client.get(f"/test/result/{attempt.id}").status_code == 403
    auth.login("provider")
    assert client.get(f"/test/result/{attempt.id}").status_code == 403
    counsellor = auth.login("counsellor")
    assert client.get(f"/test/result/{attempt.id}").status_code == 200
    page = client.get(f"/staff/learners/{learner.id}").get_data(as_text=True)
    assert attempt.level in page
    actions = set(db_session.scalars(select(AccessLog.action).where(AccessLog.staff_id == counsellor.id)))
    assert {"view placement result", "view profile, self-assessment and tests"} <= actions
    assert other.id not in set(db_session.scalars(select(AccessLog.staff_id)))


def test_counsellor_allows_retake_from_learner_page(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    _run_test(client)
    auth.login("counsellor")
    bad = client.post(f"/staff/learners/{learner.id}/allow-retake", data={"reason": ""})
    assert bad.status_code == 200 and "error-summary" in bad.get_data(as_text=True)
    assert not services.retake_status(learner).allowed
    ok = client.post(f"/staff/learners/{learner.id}/allow-retake", data={"reason": "Wrong level"})
    assert ok.status_code == 302 and services.retake_status(learner).allowed


def test_audio_only_for_the_current_listening_item(client, auth, db_session):
    auth.login("learner")
    client.post("/test/start")
    passage = next(p for p in content().passages if p.kind in ("dialogue", "announcement"))
    assert client.get(f"/test/audio/{passage.id}.wav").status_code == 404


def test_calibration_round_trip(app, client, auth, db_session, tmp_path):
    learners = []
    for _ in range(6):
        learners.append(auth.login("learner"))
        client.post("/test/start")
        _run_test(client)
    old = db_session.scalar(select(BankVersion).where(BankVersion.is_live.is_(True)))
    runner = app.test_cli_runner()
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["placement", "export-responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"learner_id", "item_id", "correct"}
    assert len(rows) == db_session.scalar(select(func.count()).select_from(PlacementResponse))
    result = runner.invoke(args=["placement", "calibrate", "--min-responses", "2"])
    assert result.exit_code == 0, result.output
    live = db_session.scalar(select(BankVersion).where(BankVersion.is_live.is_(True)))
    assert live.id != old.id and live.source == "calibration"
    assert db_session.get(BankVersion, old.id) is not None  # the previous version is kept
    changed = {i["id"] for i, j in zip(live.bank["items"], old.bank["items"]) if i["b"] != j["b"]}
    assert changed and changed <= {r["item_id"] for r in rows}
    # Earlier attempts keep the version that placed them; a new attempt uses the new one.
    assert {a.bank_version_id for a in db_session.scalars(select(PlacementAttempt))} == {old.id}
    auth.login("learner")
    client.post("/test/start")
    assert db_session.scalar(select(PlacementAttempt).order_by(PlacementAttempt.id.desc())).bank_version_id == live.id


def test_two_simultaneous_answers_to_one_item_record_one(live_app):
    """Two requests (own connections, real commits) answer the same item at the same moment."""
    import threading

    from langjourney.extensions import db

    learner = UserFactory()
    attempt = services.start_attempt(learner, None)
    services.current_item(attempt)
    attempt_id = attempt.id
    db.session.commit()  # and touch nothing more here: a reload would begin (and lock) again on SQLite
    barrier = threading.Barrier(2)
    outcomes = []

    def answer_once():
        with live_app.app_context():
            barrier.wait()
            try:
                services.answer(db.session.get(PlacementAttempt, attempt_id), 0, "0")
                db.session.commit()
                outcomes.append("recorded")
            except services.StaleAnswer:
                db.session.rollback()
                outcomes.append("stale")

    threads = [threading.Thread(target=answer_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["recorded", "stale"]
    db.session.expire_all()
    assert db.session.get(PlacementAttempt, attempt_id).seq == 1
    assert db.session.scalar(select(func.count()).select_from(PlacementResponse)) == 1


def test_learners_answering_at_once_over_http_each_record_every_answer_once(live_app):
    """Six learners answer at the same time, each from two tabs posting every answer twice at once:
    the answer view reads without the write lock (on SQLite) and writes by a conditional update, so
    each answer is recorded exactly once, the other tab is told its page was stale, and nothing fails."""
    import threading

    from langjourney.extensions import db

    learners, answers_each = 6, 3
    keys, ids = [], []
    for _ in range(learners):
        learner = UserFactory()
        services.current_item(services.start_attempt(learner, None))
        keys.append(session_key(learner))
        ids.append(learner.id)
    db.session.commit()
    db.session.remove()  # the test's own session must not hold SQLite's lock while the requests race
    barrier = threading.Barrier(learners * 2)
    statuses, stale_notes = [], []

    def tab(index):
        client = live_app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = keys[index // 2], True
        for seq in range(answers_each):
            barrier.wait(timeout=30)
            statuses.append(client.post("/test/answer", data={"seq": seq, "dont_know": "y"}).status_code)
            with client.session_transaction() as session:
                stale_notes.extend(m for _, m in session.pop("_flashes", []) if "out of date" in m)

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(learners * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [302] * (learners * 2 * answers_each)
    assert len(stale_notes) == learners * answers_each  # one tab of each pair, for every answer
    for learner_id in ids:
        attempt = db.session.scalar(select(PlacementAttempt).where(PlacementAttempt.learner_id == learner_id))
        assert attempt.seq == answers_each
        assert [r.seq for r in db.session.scalars(select(PlacementResponse).where(
            PlacementResponse.attempt_id == attempt.id).order_by(PlacementResponse.seq))] == [0, 1, 2]


def test_item_page_has_only_the_real_answer_inputs(client, auth, db_session):
    learner = auth.login("learner")
    client.post("/test/start")
    page, _ = _item_page(client)
    item = content().item(_attempt(db_session, learner).state["pending"])
    expected = len(item.options) if item.type in ("choice", "reading", "listening") else 1
    assert page.count('name="answer"') == expected  # no hidden duplicate that would shadow the answer


_RENAME = "UPDATE \"user\" SET full_name = :name WHERE id = :id"


def _committed_learner_id(db_url) -> int:
    """A learner committed on SQLite, with the session closed (these tests are about SQLite's lock)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's reading phase and database-wide write lock only")
    from langjourney.extensions import db

    learner = UserFactory(full_name="Before")
    db.session.commit()
    learner_id = learner.id
    db.session.remove()
    return learner_id


def test_reading_phase_holds_no_write_lock_and_write_phase_sees_newer_rows(live_app, db_url):
    """On SQLite, a request that begins by reading (the answer view) lets another connection write
    meanwhile; its write phase then takes the write lock on the same connection and reads what was
    committed. (On PostgreSQL both do nothing: writers lock rows, not the database.)"""
    import sqlite3

    from sqlalchemy import text

    from langjourney.db import begin_reading, write_phase
    from langjourney.extensions import db

    learner_id = _committed_learner_id(db_url)
    begin_reading()
    assert db.session.get(User, learner_id).full_name == "Before"
    with db.engine.connect() as other:  # would wait for the lock (and time out) if it were held
        other.execute(text(_RENAME), {"name": "After", "id": learner_id})
        other.commit()
    write_phase()
    assert db.session.get(User, learner_id).full_name == "After"  # re-read: objects were expired
    probe = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # the write lock is ours now
        probe.execute("BEGIN IMMEDIATE")
    probe.close()
    db.session.execute(text(_RENAME), {"name": "Mine", "id": learner_id})
    db.session.commit()
    db.session.remove()
    assert db.session.get(User, learner_id).full_name == "Mine"


def test_a_write_in_the_reading_phase_is_refused_not_committed_alone(live_app, db_url):
    """On SQLite the reading phase has no transaction; a write there (a view that forgot
    write_phase) is refused rather than committed on its own, and the connection writes normally
    in the next transaction."""
    from sqlalchemy import text

    from langjourney.db import WriteBeforeWritePhase, begin_reading
    from langjourney.extensions import db

    learner_id = _committed_learner_id(db_url)
    begin_reading()
    with pytest.raises(WriteBeforeWritePhase, match="write_phase"):
        db.session.execute(text(_RENAME), {"name": "Alone", "id": learner_id})
    db.session.rollback()
    db.session.execute(text(_RENAME), {"name": "Next", "id": learner_id})
    db.session.commit()
    db.session.remove()
    assert db.session.get(User, learner_id).full_name == "Next"
