"""Azure role assignment conditions (version 2.0) as ACR's ABAC mode uses them: does an
assignment's condition let a given action on a given repository through?

    ((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'}))
     OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name]
         StringStartsWithIgnoreCase 'team-a/'))

Evaluation is three-valued: True, False, or None when a part depends on something pullgate cannot
know before the deploy (another attribute, a sub-operation, an unknown operator). The parts that
could not be evaluated are returned so the finding can say which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

REPOSITORY_ATTRIBUTE = "microsoft.containerregistry/registries/repositories:name"

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'[^']*')
    | (?P<attribute>@(?:Request|Resource|Principal|Environment)\[[^\]]*\])
    | (?P<op>&&|\|\||[(){},!])
    | (?P<word>[A-Za-z][\w:.-]*)
    | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


class ConditionSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionSyntaxError(f"unexpected text at {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


# ---- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" / "or"
    operands: tuple[object, ...]


@dataclass(frozen=True)
class ActionMatches:
    function: str  # ActionMatches / SubOperationMatches
    pattern: str


@dataclass(frozen=True)
class Comparison:
    attribute: str  # as written, e.g. @Request[...:name]
    operator: str  # as written, e.g. ForAnyOfAnyValues:StringEqualsIgnoreCase
    values: tuple[str, ...]
    text: str  # the source text, for messages


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise ConditionSyntaxError("the condition ends too early")
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise ConditionSyntaxError(f"expected {text!r}, found {token.text!r}")

    def _is(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.text.upper() in words

    def parse(self) -> object:
        node = self.or_expr()
        if self.peek() is not None:
            raise ConditionSyntaxError(f"unexpected {self.peek().text!r}")
        return node

    def or_expr(self) -> object:
        operands = [self.and_expr()]
        while self._is("OR", "||"):
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_expr(self) -> object:
        operands = [self.unary()]
        while self._is("AND", "&&"):
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def unary(self) -> object:
        if self._is("!", "NOT"):
            self.take()
            return Not(self.unary())
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        return self.atom()

    def atom(self) -> object:
        token = self.take()
        if token.kind == "word" and token.text.lower() in ("actionmatches", "suboperationmatches"):
            self.expect("{")
            pattern = self.take()
            if pattern.kind != "string":
                raise ConditionSyntaxError(f"{token.text} needs a quoted string")
            self.expect("}")
            return ActionMatches(token.text, pattern.text[1:-1])
        if token.kind == "attribute":
            operator = self.take()
            if operator.kind != "word":
                raise ConditionSyntaxError(f"expected an operator after {token.text}")
            values = self.values()
            text = f"{token.text} {operator.text} " + (
                f"'{values[0]}'" if len(values) == 1 else "{" + ", ".join(values) + "}"
            )
            return Comparison(token.text, operator.text, values, text)
        raise ConditionSyntaxError(f"unexpected {token.text!r}")

    def values(self) -> tuple[str, ...]:
        token = self.take()
        if token.kind in ("string", "number", "word"):
            return (_unquote(token.text),)
        if token.text != "{":
            raise ConditionSyntaxError(f"expected a value, found {token.text!r}")
        values = []
        while True:
            item = self.take()
            if item.text == "}" and not values:
                break
            if item.kind not in ("string", "number", "word"):
                raise ConditionSyntaxError(f"expected a value in the list, found {item.text!r}")
            values.append(_unquote(item.text))
            end = self.take()
            if end.text == "}":
                break
            if end.text != ",":
                raise ConditionSyntaxError(f"expected ',' or '}}', found {end.text!r}")
        return tuple(values)


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def parse_condition(text: str) -> object:
    return _Parser(tokenize(text)).parse()


# ---- evaluation --------------------------------------------------------------------------------


def glob_matches(pattern: str, value: str) -> bool:
    """Azure action wildcards: `*` matches any run of characters; case-insensitive."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def _like(pattern: str, value: str, fold: bool) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


_STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "stringequals": lambda v, x: v == x,
    "stringequalsignorecase": lambda v, x: v.lower() == x.lower(),
    "stringstartswith": lambda v, x: v.startswith(x),
    "stringstartswithignorecase": lambda v, x: v.lower().startswith(x.lower()),
    "stringlike": lambda v, x: _like(x, v, False),
    "stringlikeignorecase": lambda v, x: _like(x, v, True),
}
_ANY = ("foranyofanyvalues", "forallofanyvalues")
_ALL = ("foranyofallvalues", "forallofallvalues")


@dataclass(frozen=True)
class Evaluation:
    value: bool | None  # None: depends on something pullgate cannot evaluate
    unknown: tuple[str, ...] = ()  # the parts that could not be evaluated


def _compare(node: Comparison, repository: str) -> Evaluation:
    attribute = node.attribute[node.attribute.index("[") + 1 : -1].strip().lower()
    if attribute != REPOSITORY_ATTRIBUTE or not node.attribute.lower().startswith(
        ("@request[", "@resource[")
    ):
        return Evaluation(None, (f"{node.text} (attribute not known before the deploy)",))
    quantifier, _, name = node.operator.rpartition(":")
    name = name.lower()
    negate = name.startswith("stringnot")
    if negate:
        name = "string" + name[len("stringnot") :]
    test = _STRING_OPERATORS.get(name)
    if test is None or (quantifier and quantifier.lower() not in _ANY + _ALL):
        return Evaluation(None, (f"{node.text} (operator {node.operator} not evaluated)",))
    if len(node.values) != 1 and not quantifier:
        return Evaluation(None, (f"{node.text} (a list needs ForAnyOfAnyValues:)",))
    results = [test(repository, value) for value in node.values]
    matched = all(results) if quantifier.lower() in _ALL else any(results)
    return Evaluation(matched != negate)


def evaluate(node: object, action: str, repository: str) -> Evaluation:
    if isinstance(node, Not):
        inner = evaluate(node.operand, action, repository)
        return Evaluation(None if inner.value is None else not inner.value, inner.unknown)
    if isinstance(node, BoolOp):
        parts = [evaluate(o, action, repository) for o in node.operands]
        values = [p.value for p in parts]
        decisive = node.op == "or"  # the value that settles it
        if decisive in values:
            return Evaluation(decisive)
        unknown = tuple(u for p in parts for u in p.unknown)
        return Evaluation(None if None in values else not decisive, unknown)
    if isinstance(node, ActionMatches):
        if node.function.lower() == "suboperationmatches":
            text = f"SubOperationMatches{{'{node.pattern}'}}"
            return Evaluation(None, (f"{text} (sub-operations not evaluated)",))
        return Evaluation(glob_matches(node.pattern, action))
    if isinstance(node, Comparison):
        return _compare(node, repository)
    raise TypeError(f"not a condition node: {node!r}")


def condition_allows(condition: str, action: str, repository: str) -> Evaluation:
    """Whether an assignment with this condition grants `action` on `repository`."""
    try:
        tree = parse_condition(condition)
    except ConditionSyntaxError as exc:
        return Evaluation(None, (f"the condition does not parse: {exc}",))
    return evaluate(tree, action, repository)
