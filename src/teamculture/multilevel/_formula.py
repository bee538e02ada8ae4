"""lme4-style model formulas: ``y ~ x + (1 | trust/team)``.

The fixed part is handed to formulaic unchanged (categoricals ``C(...)``,
interactions ``a:b`` / ``a*b``, transforms ``np.log(x)``, ``I(...)``). The
random part is parsed here, with lme4's conventions:

* ``(1 | g)``: a random intercept for each level of ``g``;
* ``(1 | a/b/c)``: nested, expanded to ``(1 | a) + (1 | a:b) + (1 | a:b:c)``;
* ``(1 | a:b)``: one intercept per observed combination of ``a`` and ``b``;
* ``(1 + x | g)`` / ``(x | g)``: correlated random intercept and slope of
  ``x`` (the intercept is implied unless ``0 +`` or ``- 1`` removes it).

The uncorrelated form ``(x || g)`` is not supported (write the terms
separately).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RandomTerm", "ParsedFormula", "parse_formula"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term of an lme4-style formula.

    Attributes
    ----------
    group : str
        The grouping factor as lme4 names it: a column (``"team"``) or an
        interaction of columns (``"trust:team"``).
    intercept : bool
        Whether the term has a random intercept.
    slopes : tuple of str
        Terms with random slopes (formulaic expressions, usually column names).
    factors : tuple of str
        The columns that define the grouping factor (``("trust", "team")``
        for ``"trust:team"``).
    """

    group: str
    intercept: bool = True
    slopes: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()

    @property
    def is_intercept_only(self) -> bool:
        """True for a plain random intercept ``(1 | group)``."""
        return self.intercept and not self.slopes

    def __str__(self) -> str:
        lhs = (["1"] if self.intercept else ["0"]) + list(self.slopes)
        return f"({' + '.join(lhs)} | {self.group})"


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4-style formula split into response, fixed and random parts.

    Attributes
    ----------
    formula : str
        The formula as given.
    response : str
        The left-hand side (a column name or a formulaic expression).
    fixed : str
        The fixed-effects right-hand side for formulaic (``"1"`` when only an
        intercept is left).
    random : tuple of RandomTerm
        The random terms, nested terms expanded, in formula order.
    """

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]

    @property
    def group_names(self) -> tuple[str, ...]:
        """The grouping-factor names of the random terms, in order."""
        return tuple(t.group for t in self.random)

    @property
    def group_columns(self) -> tuple[str, ...]:
        """The data columns the grouping factors are built from (unique, in order)."""
        seen: dict[str, None] = {}
        for t in self.random:
            for f in t.factors:
                seen.setdefault(f, None)
        return tuple(seen)


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` characters outside parentheses/brackets/quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote is not None:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"`formula` has unbalanced parentheses: {text!r}.")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0 or quote is not None:
        raise ValueError(f"`formula` has unbalanced parentheses or quotes: {text!r}.")
    parts.append(text[start:])
    return parts


def _is_random(chunk: str) -> bool:
    s = chunk.strip()
    if not (s.startswith("(") and s.endswith(")")):
        return False
    inner = s[1:-1]
    # the outer parentheses must enclose the whole chunk
    if len(_split_top(inner, "|")) < 2:
        return False
    depth = 0
    for ch in s[:-1]:
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return False
    return True


def _parse_random(chunk: str, formula: str) -> list[RandomTerm]:
    inner = chunk.strip()[1:-1]
    if "||" in inner:
        raise ValueError(
            f"`formula`: the uncorrelated form {chunk.strip()!r} is not supported; "
            "write the random terms separately, e.g. (1 | g) + (0 + x | g)."
        )
    pieces = _split_top(inner, "|")
    if len(pieces) != 2:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} must have one '|'.")
    lhs, rhs = (p.strip() for p in pieces)
    intercept = True
    slopes: list[str] = []
    for raw in _split_top(lhs, "+"):
        t = raw.strip()
        if re.search(r"-\s*1$", t):
            intercept = False
            t = re.sub(r"-\s*1$", "", t).strip()
        if t in ("", "1"):
            continue
        if t in ("0", "-1"):
            intercept = False
            continue
        slopes.append(t)
    if not lhs:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} has nothing before '|'.")
    if not intercept and not slopes:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} has no intercept and no slopes.")
    nest = [p.strip() for p in rhs.split("/")]
    factors_chain: list[tuple[str, ...]] = []
    for level in nest:
        cols = tuple(c.strip() for c in level.split(":"))
        bad = [c for c in cols if not _NAME.match(c)]
        if bad:
            raise ValueError(
                f"`formula`: grouping factor(s) {bad!r} in {chunk.strip()!r} are not column names; "
                "allowed: names, a:b interactions and a/b nesting."
            )
        factors_chain.append(cols)
    terms: list[RandomTerm] = []
    acc: tuple[str, ...] = ()
    for cols in factors_chain:
        acc = acc + cols
        terms.append(RandomTerm(group=":".join(acc), intercept=intercept, slopes=tuple(slopes), factors=acc))
    return terms


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4-style formula into response, fixed and random parts.

    Parameters
    ----------
    formula : str
        ``"response ~ fixed terms + (random | groups) ..."``.

    Returns
    -------
    ParsedFormula

    Notes
    -----
    R: ``lme4::findbars(formula)`` (random terms) and ``lme4::nobars(formula)``
    (fixed part); ``(1 | a/b)`` expands, as in lme4's ``findbars``, to
    ``(1 | a) + (1 | a:b)``.

    Examples
    --------
    >>> from teamculture.multilevel._formula import parse_formula
    >>> p = parse_formula("y ~ x + C(cat) + (1 | trust/team)")
    >>> p.response, p.fixed
    ('y', 'x + C(cat)')
    >>> [t.group for t in p.random]
    ['trust', 'trust:team']
    >>> str(parse_formula("y ~ (x | team)").random[0])
    '(1 + x | team)'
    """
    if not isinstance(formula, str):
        raise TypeError(f"`formula` must be a string such as 'y ~ x + (1 | trust/team)'; got {type(formula).__name__}.")
    sides = _split_top(formula, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(
            f"`formula` must have the form 'response ~ terms'; got {formula!r}."
        )
    response = sides[0].strip()
    fixed_parts: list[str] = []
    random: list[RandomTerm] = []
    for chunk in _split_top(sides[1], "+"):
        if not chunk.strip():
            if fixed_parts or random:
                raise ValueError(f"`formula` has an empty term: {formula!r}.")
            continue
        if _is_random(chunk):
            random.extend(_parse_random(chunk, formula))
        else:
            fixed_parts.append(chunk.strip())
    seen: dict[str, RandomTerm] = {}
    for t in random:
        if t.group in seen and t.is_intercept_only and seen[t.group].is_intercept_only:
            raise ValueError(
                f"`formula` has the random intercept for {t.group!r} twice "
                f"(after expanding nesting): {formula!r}."
            )
        seen.setdefault(t.group, t)
    if not random:
        raise ValueError(
            f"`formula` has no random term such as (1 | team); got {formula!r}. "
            "For a model without random effects use ordinary regression."
        )
    fixed = " + ".join(fixed_parts) if fixed_parts else "1"
    return ParsedFormula(formula=formula, response=response, fixed=fixed, random=tuple(random))
