"""Shopify's GraphQL query cost and its per-shop leaky bucket.

Requested cost, computed before running a query: an object costs 1, a scalar or
enum 0, a connection 2 plus `first` (or `last`) times the cost of one node, and
every top-level mutation field 10. Actual cost uses the same rules on what was
returned, and the difference is refunded to the bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    value_from_ast,
)
from graphql.type import GraphQLInterfaceType

MAX_QUERY_COST = 1000
MUTATION_COST = 10
MAX_PAGE_SIZE = 250


class CostError(Exception):
    """A connection without a usable page size; reported like a validation error."""

    def __init__(self, message: str, node: FieldNode) -> None:
        super().__init__(message)
        self.node = node


def is_connection(type_name: str) -> bool:
    return type_name.endswith("Connection")


class SelectionWalker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def fields(self, parent: Any, selection_set: SelectionSetNode | None) -> list[tuple[Any, FieldNode]]:
        """(parent type, field) pairs with fragments expanded."""
        found: list[tuple[Any, FieldNode]] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                found.append((parent, selection))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                found += self.fields(
                    self.schema.get_type(condition.name.value) if condition else parent, selection.selection_set
                )
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    found += self.fields(
                        self.schema.get_type(fragment.type_condition.name.value), fragment.selection_set
                    )
        return found

    def field_type(self, parent: Any, field: FieldNode) -> Any:
        if field.name.value.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return None
        definition = parent.fields.get(field.name.value)
        return get_named_type(definition.type) if definition else None

    def argument(self, parent: Any, field: FieldNode, name: str) -> Any:
        definition = parent.fields[field.name.value]
        for argument in field.arguments or ():
            if argument.name.value == name:
                return value_from_ast(argument.value, definition.args[name].type, self.variables)
        return None

    def page_size(self, parent: Any, field: FieldNode) -> int:
        first, last = self.argument(parent, field, "first"), self.argument(parent, field, "last")
        size = first if first is not None else last
        if size is None:
            raise CostError("you must provide one of first or last", field)
        if size < 0 or size > MAX_PAGE_SIZE:
            argument = "first" if first is not None else "last"
            raise CostError(f"The '{argument}' argument must be between 0 and {MAX_PAGE_SIZE}.", field)
        return int(size)

    def node_selections(self, connection_type: Any, field: FieldNode) -> list[tuple[Any, SelectionSetNode | None]]:
        """The selection sets applied to each node: `nodes { … }` and `edges { node { … } }`."""
        node_type = get_named_type(connection_type.fields["nodes"].type)
        found: list[tuple[Any, SelectionSetNode | None]] = []
        for _parent, child in self.fields(connection_type, field.selection_set):
            if child.name.value == "nodes":
                found.append((node_type, child.selection_set))
            elif child.name.value == "edges":
                edge_type = get_named_type(connection_type.fields["edges"].type)
                for _, edge_field in self.fields(edge_type, child.selection_set):
                    if edge_field.name.value == "node":
                        found.append((node_type, edge_field.selection_set))
        return found


def requested_cost(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> int:
    walker = SelectionWalker(schema, document, variables)
    root = schema.mutation_type if operation.operation == OperationType.MUTATION else schema.query_type
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(
            1 for _, f in walker.fields(root, operation.selection_set) if not f.name.value.startswith("__")
        )
    return _selection_cost(walker, root, operation.selection_set)


def _selection_cost(walker: SelectionWalker, parent: Any, selection_set: SelectionSetNode | None) -> int:
    total = 0
    for field_parent, field in walker.fields(parent, selection_set):
        field_type = walker.field_type(field_parent, field)
        if field_type is None or is_leaf_type(field_type):
            continue
        if is_connection(field_type.name):
            size = walker.page_size(field_parent, field)
            per_node = max(
                (
                    1 + _selection_cost(walker, node_type, selection)
                    for node_type, selection in walker.node_selections(field_type, field)
                ),
                default=0,
            )
            total += 2 + size * per_node
        else:
            total += 1 + _selection_cost(walker, field_type, field.selection_set)
    return total


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
    data: dict[str, Any] | None,
) -> int:
    walker = SelectionWalker(schema, document, variables)
    if operation.operation == OperationType.MUTATION:
        return requested_cost(schema, document, operation, variables)
    return _value_cost(walker, schema.query_type, operation.selection_set, data)


def _value_cost(walker: SelectionWalker, parent: Any, selection_set: SelectionSetNode | None, value: Any) -> int:
    if not isinstance(value, dict):
        return 0
    total = 0
    for field_parent, field in walker.fields(parent, selection_set):
        field_type = walker.field_type(field_parent, field)
        child = value.get(field.alias.value if field.alias else field.name.value)
        if field_type is None or is_leaf_type(field_type) or child is None:
            continue
        if is_connection(field_type.name):
            costs = []
            for node_type, selection in walker.node_selections(field_type, field):
                items = child.get("nodes") or [edge.get("node") for edge in child.get("edges") or []]
                costs.append(
                    sum(1 + _value_cost(walker, node_type, selection, item) for item in items if item is not None)
                )
            total += 2 + max(costs, default=0)
        elif isinstance(child, list):
            total += 1 + max((_value_cost(walker, field_type, field.selection_set, item) for item in child), default=0)
        else:
            total += 1 + _value_cost(walker, field_type, field.selection_set, child)
    return total


class LeakyBucket:
    """Points available to one shop; refills at `restore_rate` per second up to `maximum`."""

    def __init__(
        self, maximum: float = 2000.0, restore_rate: float = 100.0, clock: Callable[[], float] = time.monotonic
    ):
        self.maximum = maximum
        self.restore_rate = restore_rate
        self._clock = clock
        self._available = maximum
        self._updated_at = clock()
        self._empty_until = 0.0
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        if now < self._empty_until:
            self._available = 0.0
        else:
            start = max(self._updated_at, self._empty_until)
            self._available = min(self.maximum, self._available + (now - start) * self.restore_rate)
        self._updated_at = now

    def try_spend(self, cost: int) -> bool:
        with self._lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, points: int) -> None:
        with self._lock:
            self._refill()
            self._available = min(self.maximum, self._available + max(points, 0))

    def drain(self, hold_seconds: float = 0.0) -> None:
        """Empty the bucket, and keep it empty for `hold_seconds` (a throttling storm)."""
        with self._lock:
            self._available = 0.0
            self._updated_at = self._clock()
            self._empty_until = self._updated_at + hold_seconds

    def configure(self, maximum: float | None = None, restore_rate: float | None = None) -> None:
        with self._lock:
            self._refill()
            if maximum is not None:
                self.maximum = maximum
                self._available = min(self._available, maximum)
            if restore_rate is not None:
                self.restore_rate = restore_rate

    def status(self) -> dict[str, Any]:
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": float(self.maximum),
                "currentlyAvailable": int(self._available),
                "restoreRate": float(self.restore_rate),
            }
