"""``Policy.grants``/``covering`` match a path only against the patterns its leading
components can reach (issue 16, report speed); the answer must stay the one of trying
every pattern. Property tests (hypothesis) compare both on paths drawn from the real
abstractions (instances of their patterns, truncated, extended, mixed) and on a policy
of awkward patterns (braces holding slashes, ``*`` components, ``**``, classes,
escapes, unknown variables).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.apparmor_rules import path_matches

REAL = Path("/etc/apparmor.d")
AWKWARD = """\
/{,usr/}lib{,32,64}/lib*.so* mr,
/{usr/,}bin/{b,d}ash ix,
/home/*/.config/** rw,
owner /home/*/.local/{share,state}/app/ rw,
/home/*/ r,
/srv/*/data/*/x r,
/srv/*/ r,
/srv/** w,
/opt/[a-c]?/bin/* r,
/opt/\\{lit\\}/file r,
/var/{lib/{a,b/c},cache}/** r,
/etc/{a,b/{c,d}}/f[0-9] r,
@{unknown}/x r,
/run/user/[0-9]*/bus rw,
/weird/{/,}double r,
/a}b/{c,d} r,
/ r,
/tmp/ r,
"""


def reference(pol: Policy, path: str, owner: bool) -> dict[str, frozenset[str]]:
    """The grants of trying every pattern of every abstraction (the old matcher's answer)."""
    got: dict[str, set[str]] = {}
    for name, ab in pol.abstractions.items():
        for rule in ab.files:
            if rule.owner and not owner:
                continue
            if any(path_matches(p, path) for p in rule.patterns):
                got.setdefault(name, set()).update(rule.perms)
    return {n: frozenset(p) for n, p in got.items() if p}


@st.composite
def instance(draw: st.DrawFn, pattern: str) -> str:
    """A path an AARE may match: its globs and alternations filled in by draws."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out.append(draw(st.sampled_from(["", "a", "a/b", ".x/y/z", "1.so"])))
            i += 2
        elif ch == "*":
            out.append(draw(st.sampled_from(["", "a", "lib.so.6", "1000", ".hidden"])))
            i += 1
        elif ch == "?":
            out.append(draw(st.sampled_from(["b", "/", "9"])))
            i += 1
        elif ch == "[" and "]" in pattern[i:]:
            j = pattern.index("]", i)
            body = pattern[i + 1:j].lstrip("^") or "z"
            out.append(draw(st.sampled_from([body[0], "q", "5"])))
            i = j + 1
        elif ch == "{":
            depth, j, starts = 0, i, [i + 1]
            for j in range(i, len(pattern)):
                if pattern[j] == "{":
                    depth += 1
                elif pattern[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif pattern[j] == "," and depth == 1:
                    starts.append(j + 1)
            ends = [s - 1 for s in starts[1:]] + [j]
            k = draw(st.integers(0, len(starts) - 1))
            pattern = pattern[:i] + pattern[starts[k]:ends[k]] + pattern[j + 1:]
        elif ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@st.composite
def paths(draw: st.DrawFn, patterns: list[str]) -> str:
    """A pattern's instance, as is, cut at a slash, extended, or with slashes doubled."""
    path = draw(instance(draw(st.sampled_from(patterns))))
    how = draw(st.sampled_from(["as is", "cut", "extend", "double", "other"]))
    if how == "cut" and "/" in path[1:]:
        path = path[: draw(st.sampled_from([i for i, c in enumerate(path) if c == "/"]))] or "/"
    elif how == "extend":
        path += draw(st.sampled_from(["/", "/x", "x", "/.config/y"]))
    elif how == "double":
        path = path.replace("/", "//", 1)
    elif how == "other":
        path = draw(instance(draw(st.sampled_from(patterns)))) + path
    return path


def patterns_of(pol: Policy) -> list[str]:
    """Every (variable-expanded) file pattern of the policy's abstractions."""
    return sorted({p for ab in pol.abstractions.values() for r in ab.files for p in r.patterns})


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """A policy of awkward patterns, one abstraction per rule plus one with them all."""
    root = tmp_path_factory.mktemp("awkward")
    (root / "abstractions").mkdir()
    for n, line in enumerate(AWKWARD.splitlines()):
        (root / "abstractions" / f"r{n:02d}").write_text(line + "\n")
    (root / "abstractions" / "all").write_text(AWKWARD)
    return Policy.load(root)


def test_awkward_patterns_match_as_before(awkward: Policy) -> None:
    """Generated paths get the same grants, owner or not, from the indexed matcher."""
    pats = patterns_of(awkward)

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(paths(pats), st.booleans())
    def check(path: str, owner: bool) -> None:
        assert reference(awkward, path, owner) == awkward.grants(path, owner)

    check()


def test_awkward_examples(awkward: Policy) -> None:
    """Hand-picked paths: braces holding slashes, ``*`` components, escapes, the root."""
    for path in ["/usr/lib64/libc.so.6", "/lib/libz.so", "/home/u/.config/a/b", "/home/u/",
                 "/home//u/.local/state/app/", "/srv/x/data/y/x", "/srv/", "/opt/b9/bin/z",
                 "/opt/{lit}/file", "/var/lib/b/c/d", "/etc/b/d/f7", "@unknown/x",
                 "/run/user/1000/bus", "/weird/double", "/a}b/c", "/", "/tmp/", "/tmp"]:
        for owner in (False, True):
            assert reference(awkward, path, owner) == awkward.grants(path, owner), path
    assert ["all", "r02"] == awkward.covering(R.FILE, paths=["/home/u/.config/x"],
                                              perms=frozenset("w"))


def test_real_abstractions_match_as_before() -> None:
    """On the installed abstractions, generated paths get the same grants as before."""
    if not (REAL / "abstractions").is_dir():
        pytest.skip("needs /etc/apparmor.d/abstractions (package apparmor)")
    pol = Policy.load(REAL)
    pats = patterns_of(pol)

    @settings(max_examples=250, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(paths(pats), st.booleans())
    def check(path: str, owner: bool) -> None:
        assert reference(pol, path, owner) == pol.grants(path, owner)

    check()
