"""lme4-style model formulas: ``y ~ x + (1 | trust/team)``.

The fixed part goes to formulaic (categoricals ``C(...)``, interactions
``a:b`` / ``a*b``, transforms ``log(x)``, ``I(...)``) after the R-isms whose
meaning differs in Python are translated or refused (``to_formulaic``):
``^`` inside a function call (``I(x^2)``, ``log(x^2)``) is a power in R but
bitwise XOR in Python, so it becomes ``**``; ``factor(x)`` becomes ``C(x)``;
``TRUE``/``FALSE`` become ``True``/``False``; R's ``sqrt``, ``log1p`` and
``expm1`` become numpy's; ``.`` (every other column) and ``offset()`` are
refused. The random part is parsed here, with lme4's conventions:

* ``(1 | g)``: a random intercept for each level of ``g``;
* ``(1 | a/b/c)``: nested, expanded to ``(1 | a) + (1 | a:b) + (1 | a:b:c)``;
* ``(1 | a:b)``: one intercept per observed combination of ``a`` and ``b``;
* ``(1 + x | g)`` / ``(x | g)``: correlated random intercept and slope of
  ``x`` (the intercept is implied unless ``0 +`` or ``- 1`` removes it);
* ``(1 + x || g)``: uncorrelated, expanded as lme4 does to
  ``(1 | g) + (0 + x | g)``.

Grouping factors are column names (any Python identifier, non-ASCII letters
included, or a name in backticks such as ```my team```).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RandomTerm", "ParsedFormula", "parse_formula", "to_formulaic"]

_R_FUNCTIONS = {"factor": "C", "as.factor": "C", "sqrt": "np.sqrt", "log1p": "np.log1p", "expm1": "np.expm1"}
_CALL = re.compile(r"(?<![\w.])(as\.factor|factor|sqrt|log1p|expm1)\s*\(")
_BOOL = re.compile(r"(?<![\w.])(TRUE|FALSE)(?![\w.])")
_DOT = re.compile(r"(?<![\w.`])\.(?![\w.`])")
_OFFSET = re.compile(r"(?<![\w.])offset\s*\(")


def _is_group_name(name: str) -> bool:
    """A column name usable as a grouping factor: an identifier (dots allowed, as R) or backticked."""
    if len(name) > 2 and name[0] == name[-1] == "`":
        return "`" not in name[1:-1]
    return bool(name) and name.replace(".", "_").isidentifier()


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) > 2 and name[0] == name[-1] == "`" else name


def _power_in_calls(text: str) -> str:
    """``^`` -> ``**`` inside function-call parentheses (R's power; Python's XOR).

    Outside calls ``^`` is formula syntax (``(a + b)^2``: interactions up to
    order 2), which formulaic reads as R does, so it is left alone.
    """
    out: list[str] = []
    stack: list[bool] = []  # per open parenthesis: is it a call?
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote is not None:
            quote = None if ch == quote else quote
            out.append(ch)
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "(":
            j = i - 1
            while j >= 0 and text[j] == " ":
                j -= 1
            stack.append(j >= 0 and (text[j].isalnum() or text[j] in "_.]"))
        elif ch == ")" and stack:
            stack.pop()
        elif ch == "^" and any(stack):
            out.append("**")
            continue
        out.append(ch)
    return "".join(out)


def to_formulaic(expr: str, *, where: str = "formula") -> str:
    """Translate an R model expression to formulaic syntax, keeping R's meaning (or refuse it).

    ``where`` names the user's parameter in error messages.
    """
    if _OFFSET.search(expr):
        raise ValueError(
            f"`{where}`: offset() terms are not supported; for a linear mixed model subtract the offset "
            "from the response first (e.g. data.assign(y_adj=data['y'] - data['o'])), which gives the "
            "same fit."
        )
    if _DOT.search(expr.replace("...", "")):
        raise ValueError(
            f"`{where}`: '.' (every other column) is not supported: in a mixed model it would also enter "
            "the grouping columns as fixed effects. Name the predictors."
        )
    expr = _CALL.sub(lambda m: _R_FUNCTIONS[m.group(1)] + "(", expr)
    expr = _BOOL.sub(lambda m: "True" if m.group(1) == "TRUE" else "False", expr)
    return _power_in_calls(expr)


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
        The left-hand side (a column name or a formulaic expression, R-isms
        translated).
    fixed : str
        The fixed-effects right-hand side for formulaic (``"1"`` when only an
        intercept is left; R-isms translated, see ``to_formulaic``).
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
    uncorrelated = "||" in inner
    pieces = _split_top(inner.replace("||", "|"), "|")
    if len(pieces) != 2:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} must have one '|' (or '||').")
    lhs, rhs = (p.strip() for p in pieces)
    if not lhs:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} has nothing before '|'.")
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
        if "|" in t:
            raise ValueError(f"`formula`: random term {chunk.strip()!r} must have one '|' (or '||').")
        slopes.append(to_formulaic(t))
    if not intercept and not slopes:
        raise ValueError(f"`formula`: random term {chunk.strip()!r} has no intercept and no slopes.")
    nest = [p.strip() for p in rhs.split("/")]
    factors_chain: list[tuple[str, ...]] = []
    for level in nest:
        cols = tuple(c.strip() for c in level.split(":"))
        bad = [c for c in cols if not _is_group_name(c)]
        if bad:
            raise ValueError(
                f"`formula`: grouping factor(s) {bad!r} in {chunk.strip()!r} are not column names; "
                "allowed: names (or `quoted names`), a:b interactions and a/b nesting."
            )
        factors_chain.append(tuple(_unquote(c) for c in cols))
    # lme4's (a + b || g): one term per column, uncorrelated
    parts = [(intercept, tuple(slopes))]
    if uncorrelated:
        parts = ([(True, ())] if intercept else []) + [(False, (sl,)) for sl in slopes]
    terms: list[RandomTerm] = []
    acc: tuple[str, ...] = ()
    for cols in factors_chain:
        acc = acc + cols
        for icpt, sl in parts:
            terms.append(RandomTerm(group=":".join(acc), intercept=icpt, slopes=sl, factors=acc))
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
    return _parse_formula(formula, allow_offset=False)


def _parse_formula(formula: str, *, allow_offset: bool) -> ParsedFormula:
    """:func:`parse_formula`; ``allow_offset`` keeps top-level ``offset(...)`` terms verbatim (GLMMs)."""
    if not isinstance(formula, str):
        raise TypeError(f"`formula` must be a string such as 'y ~ x + (1 | trust/team)'; got {type(formula).__name__}.")
    sides = _split_top(formula, "~")
    if len(sides) != 2 or not sides[0].strip():
        raise ValueError(
            f"`formula` must have the form 'response ~ terms'; got {formula!r}."
        )
    response = to_formulaic(sides[0].strip())
    fixed_parts: list[str] = []
    random: list[RandomTerm] = []
    chunks: list[tuple[str, bool]] = []  # (text, is a removal split off a random term)
    for chunk in _split_top(sides[1], "+"):
        # a random term followed by removals, "(1 | g) - 1": the random term, then "- 1" in the fixed part
        pieces = _split_top(chunk, "-") if "-" in chunk else [chunk]
        if len(pieces) > 1 and _is_random(pieces[0]) and all(p.strip() for p in pieces[1:]):
            chunks.append((pieces[0], False))
            chunks.extend((p.strip(), True) for p in pieces[1:])
        else:
            chunks.append((chunk, False))
    removed: set[int] = set()  # positions in fixed_parts of removals ("- 1"), joined with '-' not '+'
    for chunk, removal in chunks:
        if removal:
            removed.add(len(fixed_parts))
            fixed_parts.append(to_formulaic(chunk))
            continue
        if not chunk.strip():
            if fixed_parts or random:
                raise ValueError(f"`formula` has an empty term: {formula!r}.")
            continue
        if _is_random(chunk):
            random.extend(_parse_random(chunk, formula))
        elif len(_split_top(chunk, "|")) > 1:
            raise ValueError(
                f"`formula`: the random term in {chunk.strip()!r} needs its own parentheses, as in lme4: "
                "(1 | team)."
            )
        elif allow_offset and re.fullmatch(r"offset\s*\(.*\)", chunk.strip(), re.S):
            fixed_parts.append(chunk.strip())  # kept verbatim: the GLMM front end evaluates it
        else:
            fixed_parts.append(to_formulaic(chunk.strip()))
    intercepts: set[str] = set()
    slopes_seen: set[tuple[str, str]] = set()
    for t in random:
        if t.intercept:
            if t.group in intercepts:
                raise ValueError(
                    f"`formula` has the random intercept for {t.group!r} twice "
                    f"(after expanding nesting and '||'): {formula!r}; its variance could not be identified."
                )
            intercepts.add(t.group)
        for sl in t.slopes:
            if (t.group, sl) in slopes_seen:
                raise ValueError(
                    f"`formula` has the random slope of {sl!r} for {t.group!r} twice: {formula!r}; "
                    "its variance could not be identified."
                )
            slopes_seen.add((t.group, sl))
    if not random:
        raise ValueError(
            f"`formula` has no random term such as (1 | team); got {formula!r}. "
            "For a model without random effects use ordinary regression."
        )
    fixed = "".join(
        (("- " if k in removed else "") if k == 0 else (" - " if k in removed else " + ")) + part
        for k, part in enumerate(fixed_parts)
    ) if fixed_parts else "1"
    if 0 in removed:
        fixed = "1 " + fixed  # formulaic needs a term before '-' (R's 'y ~ (1 | g) - 1')
    return ParsedFormula(formula=formula, response=response, fixed=fixed, random=tuple(random))
