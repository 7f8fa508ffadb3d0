"""A command builds only its own verb's parser; it must parse exactly as the whole one."""

from __future__ import annotations

import argparse

import pytest

from dynsecrets.cli.parser import _VALUED, build_parser, verb_of


@pytest.mark.parametrize(
    ("argv", "verb"),
    [
        (["exec", "aws/creds/ec2", "--", "aws", "s3", "ls"], "exec"),
        (["-store", "memory://", "read", "aws/creds/ec2", "ttl=1h"], "read"),
        (["--actor", "bob", "lease", "revoke", "-prefix", "aws/"], "lease"),
        (["-store", "exec", "read", "x"], "read"),  # a flag's value is not the verb
        (["-debug", "secrets", "enable", "-path=x", "aws"], "secrets"),
        (["token", "create", "-policy=a", "-policy", "b"], "token"),
        (["worker", "-once", "-interval=2"], "worker"),
        (["policy", "write", "p", "-"], "policy"),
        (["write", "-f", "aws/config/rotate-root", "extra-arg=1", "--bogus"], "write"),
    ],
)
def test_one_verbs_parser_parses_as_the_whole_one(argv: list[str], verb: str) -> None:
    assert verb_of(argv) == verb
    whole, whole_extra = build_parser().parse_known_args(argv)
    alone, alone_extra = build_parser(verb).parse_known_args(argv)
    assert vars(alone) == vars(whole)
    assert alone_extra == whole_extra


@pytest.mark.parametrize("argv", [[], ["-h", "exec"], ["--version"], ["nope", "x"]])
def test_no_verb_means_the_whole_parser(argv: list[str]) -> None:
    assert verb_of(argv) is None


def test_every_top_level_flag_with_a_value_is_known() -> None:
    # verb_of skips the value of these flags; a new one missing here would make it
    # take that value for the verb.
    taking_values = {
        option
        for action in build_parser()._actions
        if action.option_strings
        and action.nargs != 0
        and not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    }
    assert taking_values == set(_VALUED)
