"""Counting the ops a traced graph runs once its nested function calls are inlined."""
import collections


def _is_call(node):
    return node.op.endswith("PartitionedCall")  # PartitionedCall, StatefulPartitionedCall


def nested_calls(graph_def):
    """Counter {function name: times called} of the graph's own nested function calls."""
    return collections.Counter(n.attr["f"].func.name for n in graph_def.node if _is_call(n))


def inlined_op_count(graph_def, op_type):
    """Ops of ``op_type`` in ``graph_def`` with every nested call replaced by the called
    function's ops (recursively): what runs once TensorFlow inlines the calls, e.g. a
    model traced once and called once per example."""
    library = {f.signature.name: f.node_def for f in graph_def.library.function}

    def count(nodes):
        return sum(count(library[n.attr["f"].func.name]) if _is_call(n) else n.op == op_type
                   for n in nodes)
    return count(graph_def.node)
