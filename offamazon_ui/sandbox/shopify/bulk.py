"""Bulk query operations: check the query like Shopify, run it in the background, write JSONL.

Every node of a connection becomes its own line; a node of a nested connection
carries `__parentId` with its parent's id, and other nested objects stay inline.
Children are written right after their parent, which satisfies readers with
and without `groupObjects`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    SelectionSetNode,
    execute_sync,
    get_operation_ast,
    is_leaf_type,
    parse,
    validate,
)

from offamazon_ui.sandbox.shopify.cost import SelectionWalker, is_connection
from offamazon_ui.sandbox.shopify.schema import QueryContext, QueryRootView, resolve_field, resolve_type

CHUNK_SIZE = 250
MAX_CONNECTIONS = 5
MAX_NESTING = 2


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_bulk_query(schema: GraphQLSchema, text: str) -> tuple[DocumentNode | None, str | None]:
    """The parsed query, or the INVALID user error message Shopify would give."""
    try:
        document = parse(text)
    except GraphQLError as error:
        return None, f"Invalid bulk query: {error.message}"
    errors = validate(schema, document)
    if errors:
        return None, f"Invalid bulk query: {errors[0].message}"
    operation = get_operation_ast(document)
    if operation is None or operation.operation != OperationType.QUERY:
        return None, "Invalid bulk query: a bulk query must contain exactly one query operation."
    walker = SelectionWalker(schema, document, {})
    for _, root_field in walker.fields(schema.query_type, operation.selection_set):
        if root_field.name.value in ("node", "nodes"):
            return None, f"Bulk queries cannot contain a top level `{root_field.name.value}` field."
    connections: list[str] = []
    problem = _check_structure(walker, schema.query_type, operation.selection_set, 0, connections)
    if problem:
        return None, problem
    if not connections:
        return None, "Bulk queries must contain at least one connection."
    if len(connections) > MAX_CONNECTIONS:
        return None, f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
    return document, None


def _check_structure(
    walker: SelectionWalker, parent: Any, selection_set: SelectionSetNode | None, depth: int, connections: list[str]
) -> str | None:
    for field_parent, field_node in walker.fields(parent, selection_set):
        field_type = walker.field_type(field_parent, field_node)
        if field_type is None or is_leaf_type(field_type):
            continue
        if not is_connection(field_type.name):
            problem = _check_structure(walker, field_type, field_node.selection_set, depth, connections)
        else:
            connections.append(field_node.name.value)
            if depth + 1 > MAX_NESTING:
                return f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_NESTING}."
            problem = None
            for node_type, selection in walker.node_selections(field_type, field_node):
                nested: list[str] = []
                problem = problem or _check_structure(walker, node_type, selection, depth + 1, nested)
                if nested and not _selects_id(walker, node_type, selection):
                    return (
                        "The parent 'node' field for a nested connection must select the 'id' field without an "
                        f"alias and must be of 'ID' return type. Connection fields without 'id': {nested[0]}."
                    )
                connections.extend(nested)
        if problem:
            return problem
    return None


def _selects_id(walker: SelectionWalker, node_type: Any, selection: SelectionSetNode | None) -> bool:
    return any(f.name.value == "id" and f.alias is None for _, f in walker.fields(node_type, selection))


def _is_connection_value(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and set(value) <= {"edges", "nodes", "pageInfo"}
        and (isinstance(value.get("edges"), list) or isinstance(value.get("nodes"), list))
    )


def _connection_nodes(value: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(value.get("nodes"), list):
        return [node for node in value["nodes"] if isinstance(node, dict)]
    return [edge["node"] for edge in value.get("edges") or [] if isinstance(edge, dict) and edge.get("node")]


def flatten(data: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """JSONL objects for one chunk, the number of root objects, and the largest root page."""
    lines: list[dict[str, Any]] = []
    roots = largest = 0
    for value in data.values():
        if _is_connection_value(value):
            nodes = _connection_nodes(value)
            roots += len(nodes)
            largest = max(largest, len(nodes))
            for node in nodes:
                _emit(node, None, lines)
    return lines, roots, largest


def _emit(node: dict[str, Any], parent_id: str | None, lines: list[dict[str, Any]]) -> None:
    line = {key: value for key, value in node.items() if not _is_connection_value(value)}
    if parent_id is not None:
        line["__parentId"] = parent_id
    lines.append(line)
    for value in node.values():
        if _is_connection_value(value):
            for child in _connection_nodes(value):
                _emit(child, node.get("id"), lines)


@dataclass
class BulkJob:
    number: int
    shop_domain: str
    query: str
    document: DocumentNode
    token: str
    path: Path
    created_at: str = field(default_factory=now_iso)
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.number}"

    @property
    def running(self) -> bool:
        return self.status in ("CREATED", "RUNNING", "CANCELING")

    def cancel(self) -> None:
        if self.running:
            self.status = "CANCELING"
            self._stop.set()

    def start(self, context_for: Callable[[tuple[int, int]], QueryContext], outcome: str, delay: float) -> None:
        threading.Thread(target=self._run, args=(context_for, outcome, delay), daemon=True).start()

    def _finish(self, status: str, error_code: str | None = None) -> None:
        self.error_code = error_code
        self.completed_at = now_iso()
        self.status = status

    def _run(self, context_for: Callable[[tuple[int, int]], QueryContext], outcome: str, delay: float) -> None:
        if self._stop.wait(delay):
            return self._finish("CANCELED")
        self.status = "RUNNING"
        if outcome == "hang":
            self._stop.wait()
            return self._finish("CANCELED")
        try:
            self._write(context_for, outcome)
        except OSError:  # the emulator was closed under us
            self._finish("FAILED", "INTERNAL_SERVER_ERROR")

    def _write(self, context_for: Callable[[tuple[int, int]], QueryContext], outcome: str) -> None:
        offset = 0
        with self.path.open("wb") as output:
            while True:
                if self._stop.is_set():
                    return self._finish("CANCELED")
                context = context_for((offset, CHUNK_SIZE))
                result = execute_sync(
                    context.emulator.schema, self.document, root_value=QueryRootView(context), context_value=context,
                    field_resolver=resolve_field, type_resolver=resolve_type,
                )  # fmt: skip
                if result.errors:
                    denied = any((e.extensions or {}).get("code") == "ACCESS_DENIED" for e in result.errors)
                    return self._finish("FAILED", "ACCESS_DENIED" if denied else "INTERNAL_SERVER_ERROR")
                lines, roots, largest = flatten(result.data or {})
                output.write(b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines))
                output.flush()
                self.object_count += len(lines)
                self.root_object_count += roots
                self.file_size = output.tell()
                if outcome == "fail":
                    return self._finish("FAILED", "INTERNAL_SERVER_ERROR")
                if largest < CHUNK_SIZE:
                    break
                offset += CHUNK_SIZE
        self._finish("COMPLETED")
