"""Linear-time versions of the qonnx graph passes that are quadratic in the node count.

qonnx's ``SortGraph`` looks up every node's producers by scanning the whole graph, its
``rename_tensor`` sweeps every node per call (``GiveUniqueTensorNames`` and
``GiveReadableTensorNames`` call it once per tensor) and ``check_all_tensor_shapes_specified``
rebuilds the list of value infos per tensor; and ``ModelWrapper.transform`` runs
``SortGraph`` after every transformation. A chain of 1,000 Identity nodes took 26 s in
``hwflow inspect``, 3,000 over two minutes.

``LinearModelWrapper`` (what ``load_model`` returns) swaps those passes, whenever they are
applied through ``transform``, for versions computing the *same* result from indexes
built once per pass: the same node order (qonnx's level-by-level topological sort with
ties broken by position), the same names, including qonnx's quirks (only the first
occurrence of a name in a node is renamed; a duplicated name among graph inputs,
outputs, value infos or initializers raises). ``tests/test_hostile_linear.py`` checks
the equality against qonnx on the zoo and on random graphs.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueTensorNames, SortGraph
from qonnx.transformation.infer_shapes import InferShapes
from toposort import CircularDependencyError


class LinearSortGraph(SortGraph):
    """``SortGraph`` in O(n log n): same dependencies (first producer of each input;
    nodes without producers kept only if fed by an initializer or graph input, or needed by
    another node), same order (toposort's levels, each sorted by position)."""

    def apply(self, model):
        g = model.graph
        nodes = list(g.node)
        if len(nodes) == 1:
            return (model, False)
        producer: dict[str, int] = {}
        for idx, n in enumerate(nodes):
            for o in n.output:
                producer.setdefault(o, idx)
        fed = {i.name for i in g.initializer} | {i.name for i in g.input}
        deps: dict[int, set[int]] = {}
        for idx, n in enumerate(nodes):
            preds = {producer[i] for i in n.input if i in producer}
            if not preds:
                if len(n.input) > 0 and any(i in fed for i in n.input):
                    deps[idx] = set()
                continue
            deps[idx] = preds
        order = _levels(deps)
        del g.node[:]
        g.node.extend(nodes[i] for i in order)
        return (model, False)


def _levels(deps: dict[int, set[int]]) -> list[int]:
    """``toposort_flatten(deps, sort=True)`` by Kahn's algorithm: each round emits every
    item whose dependencies are all emitted, sorted."""
    data = {k: {d for d in v if d != k} for k, v in deps.items()}
    for d in {d for v in data.values() for d in v} - data.keys():
        data[d] = set()
    waiting = {k: len(v) for k, v in data.items()}
    users: dict[int, list[int]] = defaultdict(list)
    for k, v in data.items():
        for d in v:
            users[d].append(k)
    out: list[int] = []
    frontier = sorted(k for k, c in waiting.items() if c == 0)
    while frontier:
        out.extend(frontier)
        nxt = []
        for k in frontier:
            for u in users[k]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    nxt.append(u)
        frontier = sorted(nxt)
    if len(out) != len(data):
        done = set(out)
        raise CircularDependencyError({k: v for k, v in data.items() if k not in done})
    return out


class _Renamer:
    """``ModelWrapper.rename_tensor`` with indexes, valid while only it changes the graph."""

    CONTAINERS = (("input", "name"), ("output", "name"), ("value_info", "name"), ("initializer", "name"),
                  ("quantization_annotation", "tensor_name"))

    def __init__(self, graph):
        self.g = graph
        # container -> name -> sorted positions of the elements with that name
        self.where: dict[str, dict[str, list[int]]] = {}
        for cont, field in self.CONTAINERS:
            idx: dict[str, list[int]] = defaultdict(list)
            for pos, x in enumerate(getattr(graph, cont)):
                idx[getattr(x, field)].append(pos)
            self.where[cont] = idx
        # name -> sorted positions of the nodes that have it among inputs / outputs
        self.node_in: dict[str, list[int]] = defaultdict(list)
        self.node_out: dict[str, list[int]] = defaultdict(list)
        for pos, n in enumerate(graph.node):
            for name in dict.fromkeys(n.input):
                self.node_in[name].append(pos)
            for name in dict.fromkeys(n.output):
                self.node_out[name].append(pos)

    def has_initializer(self, name: str) -> bool:
        return bool(self.where["initializer"].get(name))

    def rename(self, old: str, new: str) -> None:
        if old == new:
            return
        for cont, field in self.CONTAINERS:
            idx = self.where[cont]
            positions = idx.get(old)
            if not positions:
                continue
            if len(positions) > 1:  # as qonnx.util.basic.get_by_name
                raise Exception("Found multiple get_by_name matches, undefined behavior")
            pos = positions.pop()
            setattr(getattr(self.g, cont)[pos], field, new)
            bisect.insort(idx[new], pos)
        for index, attr in ((self.node_in, "input"), (self.node_out, "output")):
            positions = index.get(old)
            if not positions:
                continue
            keep = []
            for pos in positions:
                field = getattr(self.g.node[pos], attr)
                names = list(field)
                field[names.index(old)] = new  # the first occurrence only, as qonnx does
                if old in names[names.index(old) + 1:]:
                    keep.append(pos)
                lst = index[new]
                k = bisect.bisect_left(lst, pos)
                if k == len(lst) or lst[k] != pos:
                    lst.insert(k, pos)
            index[old] = keep


class LinearGiveUniqueTensorNames(GiveUniqueTensorNames):
    def apply(self, model):
        r = _Renamer(model.graph)
        for i, name in enumerate(model.get_all_tensor_names()):
            r.rename(name, f"tensor_{i}")
        return (model, False)


class LinearGiveReadableTensorNames(GiveReadableTensorNames):
    def apply(self, model):
        model = model.transform(GiveUniqueTensorNames())
        graph = model.graph
        r = _Renamer(graph)
        for n in graph.node:
            assert n.name != "", "Found empty node name"
            for out_num, o in enumerate(list(n.output)):
                r.rename(o, "%s_out%d" % (n.name, out_num))
            init_in_num = 0
            for k in range(len(n.input)):
                i = n.input[k]  # read as qonnx's loop does: after earlier renames of this node
                if r.has_initializer(i):
                    r.rename(i, "%s_param%d" % (n.name, init_in_num))
                    init_in_num += 1
        for i, inp in enumerate(list(graph.input)):
            r.rename(inp.name, "global_in" if i == 0 else "global_in_%d" % i)
        for i, outp in enumerate(list(graph.output)):
            r.rename(outp.name, "global_out" if i == 0 else "global_out_%d" % i)
        return (model, False)


class LinearInferShapes(InferShapes):
    """qonnx's ``InferShapes`` with the result wrapped as a ``LinearModelWrapper`` from the
    start (its constructor's initializer check is then the linear one)."""

    def apply(self, model):
        from qonnx.transformation import infer_shapes as qis

        hidden_ops = qis._hide_finn_ops(model)
        model = LinearModelWrapper(qis.si.infer_shapes(model.model))
        qis._restore_finn_ops(model, hidden_ops)
        return (model, False)


_LINEAR = {SortGraph: LinearSortGraph, InferShapes: LinearInferShapes, GiveUniqueTensorNames: LinearGiveUniqueTensorNames,
           GiveReadableTensorNames: LinearGiveReadableTensorNames}


class _KeepLinear(Transformation):
    """Runs a transformation and keeps its result a ``LinearModelWrapper`` (qonnx's
    ``InferShapes`` returns a new plain ``ModelWrapper``), so the clean-up that
    ``transform`` runs next is the linear one too."""

    def __init__(self, inner: Transformation):
        super().__init__()
        self.inner = inner

    def apply(self, model):
        result, changed = self.inner.apply(model)
        if not isinstance(result, LinearModelWrapper) and isinstance(result, ModelWrapper):
            result = as_linear(result)
        return result, changed


def as_linear(model: ModelWrapper) -> "LinearModelWrapper":
    """The same wrapper (same proto, same settings) as a ``LinearModelWrapper``."""
    if isinstance(model, LinearModelWrapper):
        return model
    new = LinearModelWrapper.__new__(LinearModelWrapper)
    new.__dict__.update(model.__dict__)
    return new


class LinearModelWrapper(ModelWrapper):
    """A qonnx ``ModelWrapper`` whose quadratic passes run in (near) linear time."""

    def transform(self, transformation: Transformation, make_deepcopy: bool = True, cleanup: bool = True,
                  apply_to_subgraphs: bool = False, use_preorder_traversal: bool = True):
        fast = _LINEAR.get(type(transformation))
        if fast is not None:
            transformation = fast()
        out = super().transform(_KeepLinear(transformation), make_deepcopy, cleanup, apply_to_subgraphs,
                                use_preorder_traversal)
        return as_linear(out)

    def get_tensor_shape(self, tensor_name: str, fix_missing_init_shape: bool = False):
        """qonnx's lookup through an index of the value infos (graph inputs, outputs,
        value_info) instead of a scan per call. The index is rebuilt when the containers'
        lengths change and every hit is checked against the element it points to; names
        described more than once, and misses (initializers, unknown names), take qonnx's
        own path, so its assertions and initializer handling stay."""
        m = self._model_proto
        g = m.graph
        conts = (g.input, g.output, g.value_info)
        fp = (id(m), len(g.input), len(g.output), len(g.value_info))
        idx = self.__dict__.get("_vi_index")
        if idx is None or idx[0] != fp:
            counts = Counter(x.name for c in conts for x in c)
            where = {}
            for k, c in enumerate(conts):
                for pos, x in enumerate(c):
                    if counts[x.name] == 1:
                        where[x.name] = (k, pos)
            idx = self._vi_index = (fp, where)
        hit = idx[1].get(tensor_name)
        if hit is not None:
            c = conts[hit[0]]
            if hit[1] < len(c) and c[hit[1]].name == tensor_name:
                return [x.dim_value for x in c[hit[1]].type.tensor_type.shape.dim]
            self._vi_index = None  # renamed in place: rebuild next time
        return super().get_tensor_shape(tensor_name, fix_missing_init_shape)

    def check_all_tensor_shapes_specified(self, fix_missing_init_shape: bool = False) -> bool:
        """qonnx's check (every node input and output has a value info or is an
        initializer; with ``fix_missing_init_shape`` initializers get one, in the same
        order), counting names once instead of a value-info scan per tensor."""
        g = self.graph
        described = Counter(x.name for x in list(g.input) + list(g.output) + list(g.value_info))
        inits = {}
        for t in g.initializer:
            inits.setdefault(t.name, t)  # get_initializer takes the first
        ret = True
        for n in g.node:
            # empty input names are absent optional inputs (qonnx skips them); outputs are not
            for name in [i for i in n.input if i != ""] + list(n.output):
                assert described[name] <= 1, "Multiple ValueInfoProto found for " + name
                if described[name] == 1:
                    continue
                t = inits.get(name)
                if t is None:
                    ret = False
                elif fix_missing_init_shape:
                    self.set_tensor_shape(name, tuple(t.dims), dtype=t.data_type)
                    described[name] = 1
        return ret
