"""The portal's robot check: the right answer once, and no for everything else."""

import xml.etree.ElementTree as ET

import pytest

from opsm.host.portal import robot

SVG = "{http://www.w3.org/2000/svg}"
SECRET = b"s" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer_of(question: str) -> str:
    """What a person (or a script written for this page) reads in the question in words."""
    _, rest = question.rstrip("?").split("¿Cuánto es ")
    first, operation, second = rest.split(" ")
    a, b = robot.WORDS.index(first), robot.WORDS.index(second)
    return str(a + b if operation == "más" else a - b)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def check(clock):
    return robot.RobotCheck(SECRET, "registro", ttl=600, min_seconds=3, clock=clock)


def fresh(check, clock) -> tuple:
    challenge = check.challenge()
    clock.now += 10  # a person takes a while
    return challenge, answer_of(challenge.question)


def test_the_right_answer_passes_once(check, clock):
    challenge, answer = fresh(check, clock)
    assert check.check(challenge.token, " %s " % answer) is None
    with pytest.raises(robot.RobotError, match="ya se envió"):
        check.check(challenge.token, answer)


def test_a_wrong_answer_is_refused_and_spends_the_token(check, clock):
    challenge, answer = fresh(check, clock)
    with pytest.raises(robot.RobotError, match="La respuesta no es correcta"):
        check.check(challenge.token, str(int(answer) + 1))
    with pytest.raises(robot.RobotError, match="ya se envió"):  # no second guess on the same question
        check.check(challenge.token, answer)
    challenge, _ = fresh(check, clock)
    with pytest.raises(robot.RobotError, match="La respuesta no es correcta"):
        check.check(challenge.token, None)


def test_an_expired_token_is_refused(check, clock):
    challenge, answer = fresh(check, clock)
    clock.now += 600
    with pytest.raises(robot.RobotError, match="expiró"):
        check.check(challenge.token, answer)


def test_forged_altered_or_foreign_tokens_are_refused(check, clock):
    challenge, answer = fresh(check, clock)
    issued, nonce, answer_mac, signature = challenge.token.split(".")
    forgeries = [
        "garbage", "", "1.2.3", ".".join((issued, nonce, answer_mac, signature[:-2] + "AA")),
        ".".join((str(int(issued) + 300), nonce, answer_mac, signature)),  # a later time, to outlive the ttl
        ".".join((issued, nonce + "x", answer_mac, signature)),            # a new nonce, to reuse the answer
    ]
    for token in forgeries:
        with pytest.raises(robot.RobotError, match="no es válido"):
            check.check(token, answer)
    other_form = robot.RobotCheck(SECRET, "login", clock=clock)
    with pytest.raises(robot.RobotError, match="no es válido"):
        other_form.check(challenge.token, answer)
    other_secret = robot.RobotCheck(b"t" * 32, "registro", clock=clock)
    with pytest.raises(robot.RobotError, match="no es válido"):
        other_secret.check(challenge.token, answer)
    assert check.check(challenge.token, answer) is None  # none of that spent the real one


def test_a_filled_honeypot_or_a_form_sent_too_fast_is_refused(check, clock):
    challenge, answer = fresh(check, clock)
    with pytest.raises(robot.RobotError, match="una persona"):
        check.check(challenge.token, answer, honeypot="https://spam.example")
    challenge = check.challenge()
    clock.now += 1
    with pytest.raises(robot.RobotError, match="demasiado rápido"):
        check.check(challenge.token, answer_of(challenge.question))


def test_spent_tokens_are_forgotten_once_they_would_have_expired(clock):
    used = robot.UsedTokens()
    assert used.add("a", clock.now + 600, clock.now) and not used.add("a", clock.now + 600, clock.now)
    clock.now += 601
    assert used.add("b", clock.now + 600, clock.now)
    assert "a" not in used._until and len(used._queue) == 1


def test_the_drawing_is_lines_not_text_and_is_named_by_the_question(check):
    challenge = check.challenge()
    root = ET.fromstring(challenge.svg)
    assert root.find(SVG + "title").text == challenge.question
    assert not list(root.iter(SVG + "text")) and not list(root.iter(SVG + "script"))
    assert len(list(root.iter(SVG + "polyline"))) >= 5  # two numbers, an operator, "=" and "?"
    with pytest.raises(ValueError, match="secret"):
        robot.RobotCheck(b"short", "login")
