from datetime import timezone

import pytest
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import func, select

from langjourney.db import utcnow
from langjourney.selfassess import services
from langjourney.selfassess.models import SelfAssessment
from tests.fixtures.factories import UserFactory, session_key

SKILLS = ("listening", "reading", "spoken_interaction", "spoken_production", "writing")
URLS = ["/self-assessment/", "/self-assessment/step/1", "/self-assessment/summary"]
ERROR = "Choose the description that fits you best"


def step_url(number):
    return f"/self-assessment/step/{number}"


def answer(client, number, level=None, button="next"):
    data = {button: "1"}
    if level is not None:
        data["level"] = level
    return client.post(step_url(number), data=data)


def saved(learner):
    return services.find(learner)


def count_rows(db_session):
    return db_session.scalar(select(func.count()).select_from(SelfAssessment))


@pytest.fixture
def learner(auth):
    return auth.login("learner", locale="en")


def test_descriptors_are_cached_and_shaped_as_expected():
    d = services.descriptors()
    assert services.descriptors() is d
    assert d.skills == SKILLS and d.levels == ("A1", "A2", "B1", "B2", "C1")
    texts = services.grid_texts("ru")
    assert texts.skill_labels["listening"] == d.labels["skills"]["listening"].ru
    assert texts.statements["writing"]["B2"] == tuple(s.ru for s in d.grid["writing"]["B2"])
    assert services.grid_texts("de").locale == "en"


def test_full_flow_to_summary(client, db_session, learner):
    response = client.get("/self-assessment/")
    assert response.status_code == 302 and response.location.endswith(step_url(1))
    texts = services.grid_texts("en")
    chosen = dict(zip(SKILLS, ["B1", "A2", "none", "B1", "C1"]))
    for number, skill in enumerate(SKILLS, start=1):
        page = client.get(step_url(number)).get_data(as_text=True)
        assert f"Step {number} of 5" in page
        assert f"<legend><h1>{escape(texts.skill_labels[skill])}</h1></legend>" in page
        assert page.count('type="radio"') == 6 and 'value="none"' in page
        assert str(escape(texts.statements[skill]["A1"][0])) in page
        assert page.count('aria-current="step"') == 1
        assert ("Finish" in page) == (number == 5)
        assert ('name="back"' in page) == (number > 1)
        response = answer(client, number, chosen[skill])
        assert response.status_code == 302
        if number < 5:
            assert response.location.endswith(step_url(number + 1))
            assert saved(learner).completed_at is None
        else:
            assert response.location.endswith("/self-assessment/summary")
    sa = saved(learner)
    assert sa.ratings == chosen and sa.completed_at is not None
    assert services.self_rated_levels(sa) == chosen
    assert list(services.self_rated_levels(sa)) == list(SKILLS)
    assert services.prior_level(sa) == "B1.1"  # sorted: none A2 B1 B1 C1 → B1

    page = client.get("/self-assessment/summary").get_data(as_text=True)
    for skill in SKILLS:
        assert str(escape(texts.skill_labels[skill])) in page
    assert str(escape(texts.level_labels["C1"])) in page and str(escape(texts.level_labels["B1"])) in page
    assert "Below A1" in page
    assert 'href="/test/"' in page and "Take the placement test" in page
    assert f'href="{step_url(1)}"' in page
    # Finished: coming back shows the summary.
    assert client.get("/self-assessment/").location.endswith("/self-assessment/summary")


def test_change_answers_after_finishing_keeps_choices(client, db_session, learner):
    for number, skill in enumerate(SKILLS, start=1):
        answer(client, number, "A2")
    page = client.get(step_url(1)).get_data(as_text=True)
    assert 'value="A2" checked' in page and page.count(" checked") == 1
    assert answer(client, 1, "B2").location.endswith(step_url(2))
    sa = saved(learner)
    assert sa.ratings["listening"] == "B2" and sa.completed_at is not None  # still finished
    first_finish = sa.completed_at
    for number in range(2, 6):
        answer(client, number, "B2")
    assert saved(learner).completed_at >= first_finish
    assert services.prior_level(saved(learner)) == "B2"


def test_back_saves_the_choice_and_goes_back(client, db_session, learner):
    answer(client, 1, "A2")
    answer(client, 2, "A2")
    response = answer(client, 3, "B1", button="back")
    assert response.status_code == 302 and response.location.endswith(step_url(2))
    sa = saved(learner)
    assert sa.ratings == {"listening": "A2", "reading": "A2", "spoken_interaction": "B1"}
    assert sa.step == 1 and services.current_step(sa) == 2
    # The saved choice is shown when the learner comes forward again.
    assert 'value="B1" checked' in client.get(step_url(3)).get_data(as_text=True)
    # Back without a choice is fine too: nothing is asked, the earlier answer stays.
    response = answer(client, 2, None, button="back")
    assert response.location.endswith(step_url(1))
    assert saved(learner).ratings["reading"] == "A2"


def test_leaving_and_returning_resumes_on_the_saved_step(app, client, db_session, learner):
    for number in (1, 2, 3):
        answer(client, number, "B1")
    client.post("/logout")
    assert client.get("/self-assessment/").status_code == 302
    assert "/login" in client.get("/self-assessment/").location

    other_browser = app.test_client()
    with other_browser.session_transaction() as session:
        session["_user_id"] = session_key(learner)
    response = other_browser.get("/self-assessment/")
    assert response.status_code == 302 and response.location.endswith(step_url(4))
    page = other_browser.get(step_url(4)).get_data(as_text=True)
    assert "Step 4 of 5" in page and " checked" not in page


def test_no_choice_shows_an_error_and_saves_nothing(client, db_session, learner):
    response = answer(client, 1, None)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="error-summary"' in page and 'href="#level"' in page and ERROR in page
    assert 'id="level"' in page and 'aria-invalid="true"' in page
    assert count_rows(db_session) == 0
    # On a later step, the earlier answers stay as they were.
    answer(client, 1, "A1")
    before = dict(saved(learner).ratings), saved(learner).step
    assert ERROR in answer(client, 2, "").get_data(as_text=True)
    assert (saved(learner).ratings, saved(learner).step) == before


@pytest.mark.parametrize("level", ["D1", "B1.1", "a1", "<script>"])
@pytest.mark.parametrize("button", ["next", "back"])
def test_unknown_level_is_a_bad_request(client, db_session, learner, level, button):
    assert answer(client, 1, level, button=button).status_code == 400
    assert count_rows(db_session) == 0


@pytest.mark.parametrize("url", ["/self-assessment/step/0", "/self-assessment/step/6",
                                 "/self-assessment/step/99", "/self-assessment/step/-1",
                                 "/self-assessment/step/abc"])
def test_unknown_step_is_not_found(client, db_session, learner, url):
    assert client.get(url).status_code == 404
    assert client.post(url, data={"next": "1", "level": "A1"}).status_code == 404
    assert count_rows(db_session) == 0


def test_steps_cannot_be_skipped(client, db_session, learner):
    assert client.get(step_url(3)).location.endswith(step_url(1))
    response = answer(client, 3, "B1")
    assert response.status_code == 302 and response.location.endswith(step_url(1))
    assert count_rows(db_session) == 0
    answer(client, 1, "B1")
    assert client.get(step_url(2)).status_code == 200
    assert client.get(step_url(3)).location.endswith(step_url(2))


def test_summary_before_finishing_goes_back_to_the_steps(client, db_session, learner):
    assert client.get("/self-assessment/summary").location.endswith("/self-assessment/")
    answer(client, 1, "A1")
    response = client.get("/self-assessment/summary", follow_redirects=True)
    assert response.request.path == step_url(2)


@pytest.mark.parametrize("locale", ["ru", "uk", "et"])
def test_grid_in_the_learners_language(client, auth, db_session, locale):
    auth.login("learner", locale=locale)
    d = services.descriptors()
    page = client.get(step_url(1)).get_data(as_text=True)
    assert f'<html lang="{locale}">' in page
    for level in d.levels:
        assert str(escape(getattr(d.grid["listening"][level][0], locale))) in page
    assert str(escape(getattr(d.labels["skills"]["listening"], locale))) in page
    assert str(escape(d.grid["listening"]["A1"][0].en)) not in page


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("role", ["counsellor", "provider", "admin"])
def test_other_roles_are_refused(client, auth, db_session, url, role):
    auth.login(role)
    assert client.get(url).status_code == 403
    assert client.post(step_url(1), data={"next": "1", "level": "A1"}).status_code == 403
    assert count_rows(db_session) == 0


@pytest.mark.parametrize("url", URLS)
def test_anonymous_is_sent_to_sign_in(client, db_session, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.location
    assert "/login" in client.post(step_url(1), data={"next": "1", "level": "A1"}).location


def test_each_learner_sees_only_their_own_answers(client, auth, db_session):
    other = UserFactory(locale="en")
    sa = services.get_or_start(other)
    services.save_step(sa, "listening", "C1")
    db_session.commit()
    auth.login("learner", locale="en")
    page = client.get(step_url(1)).get_data(as_text=True)
    assert " checked" not in page
    assert client.get(step_url(2)).location.endswith(step_url(1))


# -- services -----------------------------------------------------------------------------------

def completed(*levels):
    return SelfAssessment(ratings=dict(zip(SKILLS, levels)), step=4, completed_at=utcnow())


@pytest.mark.parametrize("levels, expected", [
    (("A1", "A1", "A1", "A1", "A1"), "A1"),
    (("A2", "A2", "A2", "A2", "A2"), "A2"),
    (("B1", "B1", "B1", "B1", "B1"), "B1.1"),
    (("B2", "B2", "B2", "B2", "B2"), "B2"),
    (("C1", "C1", "C1", "C1", "C1"), "C1"),
    (("none", "none", "none", "none", "none"), "A1"),  # below A1 counts as A1
    (("none", "none", "none", "C1", "C1"), "A1"),
    (("C1", "A1", "B2", "A2", "B1"), "B1.1"),  # the median, whatever the order
    (("none", "C1", "B2", "none", "B2"), "B2"),
    (("A2", "C1", "C1", "A1", "C1"), "C1"),
    (("none", "A2", "A2", "C1", "A1"), "A2"),
])
def test_prior_level_is_the_median(levels, expected):
    assert services.prior_level(completed(*levels)) == expected


def test_prior_level_of_an_even_number_of_ratings_takes_the_lower_middle():
    sa = SelfAssessment(ratings={"listening": "A2", "reading": "B2"}, completed_at=utcnow())
    assert services.prior_level(sa) == "A2"


def test_prior_level_needs_a_finished_self_assessment():
    assert services.prior_level(None) is None
    unfinished = completed("B1", "B1", "B1", "B1", "B1")
    unfinished.completed_at = None
    assert services.prior_level(unfinished) is None


def test_placement_names_cover_the_grid_levels():
    assert set(services.PLACEMENT_LEVEL_NAMES) == set(services.descriptors().levels)


def test_service_steps_and_finish(db_session):
    learner = UserFactory()
    sa = services.get_or_start(learner)
    assert services.get_or_start(learner) is sa and sa.step == 0 and sa.ratings == {}
    assert services.get_completed(learner) is None
    with pytest.raises(ValueError):
        services.save_step(sa, "listening", "D1")
    with pytest.raises(ValueError):
        services.save_step(sa, "cooking", "A1")
    with pytest.raises(ValueError):
        services.save_step(sa, "listening", None)  # forward needs a level
    with pytest.raises(services.DomainError):
        services.finish(sa)  # nothing rated yet
    for skill in SKILLS:
        services.save_step(sa, skill, "A2")
    assert sa.step == len(SKILLS) - 1  # forward from the last step stays there
    services.finish(sa)
    assert sa.completed_at.tzinfo == timezone.utc
    assert services.get_completed(learner) is sa
    db_session.expire_all()
    assert services.find(learner).ratings == dict.fromkeys(SKILLS, "A2")  # the JSON column was written


def test_answer_step_refuses_skipping_ahead(db_session):
    learner = UserFactory()
    with pytest.raises(services.DomainError):
        services.answer_step(learner, 2, "A1")
    assert services.answer_step(learner, 1, "A1") == 2
    assert services.answer_step(learner, 2, None, back=True) == 1
    with pytest.raises(ValueError):
        services.answer_step(learner, 6, "A1")


# -- the read-only partial for the counsellor's page -------------------------------------------

def render_partial(app, sa, locale="en"):
    from flask import render_template

    with app.test_request_context(), force_locale(locale):
        return render_template("selfassess/_summary.html", sa=sa, sa_texts=services.grid_texts(locale))


def test_summary_partial(app, db_session):
    texts = services.grid_texts("en")
    assert "not been started" in render_partial(app, None)
    learner = UserFactory()
    sa = services.get_or_start(learner)
    services.save_step(sa, "listening", "B2")
    page = render_partial(app, sa)
    assert "not finished yet" in page and str(escape(texts.level_labels["B2"])) in page
    assert page.count("Not answered") == 4
    for skill in SKILLS[1:]:
        services.save_step(sa, skill, "none")
    services.finish(sa)
    page = render_partial(app, sa)
    assert "not finished" not in page and page.count("Below A1") == 4 and "Finished on" in page
    assert str(escape(services.grid_texts("uk").skill_labels["reading"])) in render_partial(app, sa, "uk")


def test_current_step_is_always_one_that_can_be_opened():
    assert services.current_step(None) == 1
    sa = SelfAssessment(ratings={"listening": "A1", "reading": "A1"}, step=2)
    assert services.current_step(sa) == 3
    sa.step = 4  # e.g. the grid changed since: the first unanswered step wins
    assert services.current_step(sa) == 3 and services.can_open(sa, 3)
    sa.ratings = dict.fromkeys(SKILLS, "B1")
    sa.step = 99
    assert services.current_step(sa) == 5
