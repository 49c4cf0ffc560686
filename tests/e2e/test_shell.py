"""`rasa shell` driven like a person would: a real terminal (pexpect), real servers."""

from __future__ import annotations

import pexpect
import pytest

from tests.e2e.stack import PROJECT_ROOT, RASA_COMMAND, RasaStack, free_port, model_path

pytestmark = pytest.mark.e2e
DOWN, ENTER = "\x1b[B", "\r"


def choose(child, option_index: int) -> None:
    """Pick a choice in rasa shell's button menu (0 = first)."""
    child.send(DOWN * option_index + ENTER)


def test_rasa_shell_greeting_lab_check_and_question(tmp_path):
    stack = RasaStack(tmp_path)
    stack.start_actions()
    child = pexpect.spawn(
        RASA_COMMAND[0],
        [*RASA_COMMAND[1:], "shell", "--model", str(model_path()),
         "--endpoints", str(stack.endpoints), "--port", str(free_port())],
        cwd=str(PROJECT_ROOT), env=stack.env, encoding="utf-8", timeout=60,
        dimensions=(200, 1000),
    )
    child.logfile_read = (tmp_path / "shell.log").open("w", encoding="utf-8")
    try:
        child.expect("Bot loaded", timeout=300)
        child.expect("Your input ->")
        child.sendline("hi")
        child.expect("this is not medical advice")  # the full disclaimer opens the session
        child.expect("What would you like to do")
        choose(child, 2)  # the greeting's two buttons, then "Type out your own message..."
        child.expect("Your input ->")
        child.sendline("b12 was 1100 pg/mL, I have cirrhosis")
        child.expect(r"1100 pg/mL \(= 811\.8 pmol/L\): high")
        child.expect("stored B12 can be released into the bloodstream")
        child.expect("Would you like to add your other results")
        choose(child, 1)  # "No, thanks"
        child.expect("anything else")
        child.expect("Your input ->")
        child.sendline("what is homocysteine")
        child.expect("B12 is essential for converting homocysteine into methionine.")
        child.expect("not medical advice")
        child.expect("Your input ->")
        child.sendline("/stop")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
        stack.stop()
