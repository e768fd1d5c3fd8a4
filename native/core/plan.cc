// The plan executor: a frozen TorchScript graph replayed as ATen out-variant calls into
// preallocated tensors, without the interpreter. Built in two passes: the first evaluates
// every node once to learn shapes, then graph outputs are substituted by the runner's output
// tensors; the second makes the closures (views made once: batch-1 linears become addmv).
// An unsupported node throws, naming it.
#include "executor.h"

#include <ATen/ScalarOps.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/version.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_map>

namespace torchloop {

namespace {

using torch::jit::Node;
using torch::jit::Value;

enum class OpKind { Linear, Matmul, Mm, Addmm, Add, Sub, Mul, Div, Tanh, Relu, Sigmoid, Neg, Cat, Elu };

struct OpDesc {
  OpKind kind;
  std::vector<int> in;   // slot indices
  std::vector<c10::Scalar> scalars;
  int64_t dim = 0;
  int out = -1;
};

// What a graph value is while walking: a tensor slot, a constant, or a list of values.
struct Entry {
  int slot = -1;
  c10::optional<c10::IValue> constant;
  std::vector<const Value*> list;
  bool isList = false;
};

// The faster of several ways to run one op, timed on the bound inputs when the plan is built
// (the median of a few runs each, after one to warm caches).
size_t fastest(const std::vector<std::function<void()>>& candidates) {
  if (candidates.size() == 1) return 0;
  size_t best = 0;
  double bestUs = 1e300;
  for (size_t i = 0; i < candidates.size(); ++i) {
    candidates[i]();
    std::vector<double> us;
    for (int r = 0; r < 5; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      candidates[i]();
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    if (us[2] < bestUs) bestUs = us[2], best = i;
  }
  return best;
}

#if TORCH_VERSION_MAJOR >= 2
// oneDNN's linear, the op torch.compile's CPU backend emits (mkldnn::_linear_pointwise), with
// the weight reordered once into oneDNN's blocked layout. On large batches it beats the BLAS
// that libtorch links (oneDNN picks AVX-512 kernels by ISA; MKL does not on AMD CPUs). It
// returns a new tensor (libtorch's allocator reuses the block), copied into the slot.
std::function<void()> onednnLinear(at::Tensor out, at::Tensor x, at::Tensor w, at::Tensor b) {
  using LinearFn = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view,
                              torch::List<std::optional<at::Scalar>>, std::optional<c10::string_view>);
  auto linearSchema = c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
  auto reorderSchema = c10::Dispatcher::singleton().findSchema({"mkldnn::_reorder_linear_weight", ""});
  if (!linearSchema || !reorderSchema || x.scalar_type() != at::kFloat || x.dim() != 2) return nullptr;
  try {
    auto linear = linearSchema->typed<LinearFn>();
    auto reorder = reorderSchema->typed<at::Tensor(const at::Tensor&, std::optional<int64_t>)>();
    at::Tensor packed = reorder.call(w.contiguous(), x.size(0));
    std::optional<at::Tensor> bias = b.defined() ? std::optional<at::Tensor>(b) : std::nullopt;
    torch::List<std::optional<at::Scalar>> noScalars;
    linear.call(x, packed, bias, "none", noScalars, std::nullopt);  // fails here, not in a step, if unusable
    return [out, x, packed, bias, noScalars, linear]() mutable { out.copy_(linear.call(x, packed, bias, "none", noScalars, std::nullopt)); };
  } catch (const std::exception&) {
    return nullptr;
  }
}
#else
std::function<void()> onednnLinear(at::Tensor, at::Tensor, at::Tensor, at::Tensor) { return nullptr; }
#endif

at::Tensor wrappedScalar(const c10::Scalar& s) {
  at::Tensor t = c10::scalar_to_tensor(s);
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

class StepPlan final : public Executor {
 public:
  StepPlan(const torch::jit::Module& module, const std::string& method, const std::vector<at::Tensor>& inputs,
           const std::vector<at::Tensor>& outputs);
  void run() override;
  std::string describe() const override {
    return "plan (" + std::to_string(ops_.size()) + " ops" + (onednn_ ? ", " + std::to_string(onednn_) + " linear on oneDNN" : "") + ")";
  }

 private:
  std::vector<at::Tensor> slots_;          // every intermediate tensor, preallocated
  std::vector<std::function<void()>> ops_;  // out-variant calls in graph order
  std::vector<std::pair<at::Tensor, at::Tensor>> finalCopies_;  // (src, dst) where an output aliases an input or constant
  int onednn_ = 0;                          // linears that run on oneDNN
};

StepPlan::StepPlan(const torch::jit::Module& module, const std::string& method,
                   const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& outputs) {
  if (module.hasattr("training") && module.is_training()) {
    throw std::runtime_error("the model is in training mode");
  }
  torch::jit::Module frozen = torch::jit::freeze(module, std::vector<std::string>{method}, false);
  auto graph = frozen.get_method(method).graph()->copy();
  torch::jit::Inline(*graph);
  torch::jit::EliminateDeadCode(graph);

  std::unordered_map<const Value*, Entry> values;
  auto g_inputs = graph->inputs();
  if (g_inputs.size() != inputs.size() + 1) throw std::runtime_error("input count differs from the graph's");
  for (size_t i = 0; i < inputs.size(); ++i) {
    slots_.push_back(inputs[i]);
    values[g_inputs[i + 1]].slot = static_cast<int>(i);
  }
  const int inputSlots = static_cast<int>(inputs.size());

  auto entry = [&](const Value* v) -> Entry& {
    auto it = values.find(v);
    if (it == values.end()) throw std::runtime_error("value %" + v->debugName() + " is produced by an unsupported node");
    return it->second;
  };
  auto tensorSlot = [&](const Value* v) -> int {
    Entry& e = entry(v);
    if (e.slot >= 0) return e.slot;
    if (e.constant && e.constant->isTensor()) {
      slots_.push_back(e.constant->toTensor());
      e.slot = static_cast<int>(slots_.size()) - 1;
      return e.slot;
    }
    throw std::runtime_error("expected a tensor for %" + v->debugName());
  };
  auto scalar = [&](const Value* v) -> c10::optional<c10::Scalar> {
    Entry& e = entry(v);
    if (e.constant && (e.constant->isInt() || e.constant->isDouble() || e.constant->isBool())) {
      return e.constant->toScalar();
    }
    return c10::nullopt;
  };
  auto isNone = [&](const Value* v) {
    Entry& e = entry(v);
    return e.constant && e.constant->isNone();
  };

  std::vector<OpDesc> descs;
  auto push = [&](OpDesc d, at::Tensor result, const Value* out) {
    slots_.push_back(std::move(result));
    d.out = static_cast<int>(slots_.size()) - 1;
    values[out].slot = d.out;
    descs.push_back(std::move(d));
  };
  // Binary arithmetic: second operand a tensor or a scalar (made a wrapped-number tensor so
  // type promotion matches the functional op).
  auto binary = [&](const Node* n, OpKind kind) {
    OpDesc d{kind};
    int a = tensorSlot(n->input(0));
    int b;
    if (auto s = scalar(n->input(1))) {
      slots_.push_back(wrappedScalar(*s));
      b = static_cast<int>(slots_.size()) - 1;
    } else {
      b = tensorSlot(n->input(1));
    }
    d.in = {a, b};
    c10::Scalar alpha = 1;
    if (kind == OpKind::Add || kind == OpKind::Sub) {
      if (n->inputs().size() != 3) throw std::runtime_error("unexpected " + std::string(n->kind().toQualString()) + " overload");
      auto al = scalar(n->input(2));
      if (!al) throw std::runtime_error("non-constant alpha");
      alpha = *al;
    } else if (n->inputs().size() != 2) {
      throw std::runtime_error("unexpected " + std::string(n->kind().toQualString()) + " overload");
    }
    d.scalars = {alpha};
    const at::Tensor &ta = slots_[a], &tb = slots_[b];
    at::Tensor r;
    switch (kind) {
      case OpKind::Add: r = at::add(ta, tb, alpha); break;
      case OpKind::Sub: r = at::sub(ta, tb, alpha); break;
      case OpKind::Mul: r = at::mul(ta, tb); break;
      default: r = at::div(ta, tb); break;
    }
    push(std::move(d), std::move(r), n->output());
  };

  for (const Node* n : graph->nodes()) {
    const auto kind = n->kind();
    const std::string k = kind.toQualString();
    if (kind == c10::prim::Constant) {
      auto iv = torch::jit::toIValue(n->output());
      if (!iv) throw std::runtime_error("unreadable constant");
      values[n->output()].constant = *iv;
    } else if (kind == c10::prim::ListConstruct || kind == c10::prim::TupleConstruct) {
      Entry e;
      e.isList = true;
      for (const Value* v : n->inputs()) e.list.push_back(v);
      values[n->output()] = e;
    } else if (k == "aten::linear") {
      OpDesc d{OpKind::Linear};
      d.in = {tensorSlot(n->input(0)), tensorSlot(n->input(1)), isNone(n->input(2)) ? -1 : tensorSlot(n->input(2))};
      const at::Tensor& x = slots_[d.in[0]];
      if (x.dim() > 2) throw std::runtime_error("aten::linear on a " + std::to_string(x.dim()) + "-D input");
      at::Tensor r = at::linear(x, slots_[d.in[1]], d.in[2] >= 0 ? c10::optional<at::Tensor>(slots_[d.in[2]]) : c10::nullopt);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::matmul" || k == "aten::mm") {
      OpDesc d{k == "aten::mm" ? OpKind::Mm : OpKind::Matmul};
      d.in = {tensorSlot(n->input(0)), tensorSlot(n->input(1))};
      at::Tensor r = at::matmul(slots_[d.in[0]], slots_[d.in[1]]);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::addmm") {
      OpDesc d{OpKind::Addmm};
      d.in = {tensorSlot(n->input(0)), tensorSlot(n->input(1)), tensorSlot(n->input(2))};
      auto beta = scalar(n->input(3)), alpha = scalar(n->input(4));
      if (!beta || !alpha) throw std::runtime_error("non-constant beta/alpha in aten::addmm");
      d.scalars = {*beta, *alpha};
      at::Tensor r = at::addmm(slots_[d.in[0]], slots_[d.in[1]], slots_[d.in[2]], *beta, *alpha);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::add") {
      binary(n, OpKind::Add);
    } else if (k == "aten::sub") {
      binary(n, OpKind::Sub);
    } else if (k == "aten::mul") {
      binary(n, OpKind::Mul);
    } else if (k == "aten::div" && n->inputs().size() == 2) {
      binary(n, OpKind::Div);
    } else if (k == "aten::tanh" || k == "aten::relu" || k == "aten::sigmoid" || k == "aten::neg") {
      OpKind ok = k == "aten::tanh" ? OpKind::Tanh : k == "aten::relu" ? OpKind::Relu
                : k == "aten::sigmoid" ? OpKind::Sigmoid : OpKind::Neg;
      OpDesc d{ok};
      d.in = {tensorSlot(n->input(0))};
      const at::Tensor& x = slots_[d.in[0]];
      at::Tensor r = ok == OpKind::Tanh ? at::tanh(x) : ok == OpKind::Relu ? at::relu(x)
                   : ok == OpKind::Sigmoid ? at::sigmoid(x) : at::neg(x);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::elu") {
      // The default activation of legged_gym and Isaac Lab policies.
      OpDesc d{OpKind::Elu};
      d.in = {tensorSlot(n->input(0))};
      auto alpha = scalar(n->input(1)), scale = scalar(n->input(2)), inputScale = scalar(n->input(3));
      if (!alpha || !scale || !inputScale) throw std::runtime_error("non-constant aten::elu parameters");
      d.scalars = {*alpha, *scale, *inputScale};
      at::Tensor r = at::elu(slots_[d.in[0]], *alpha, *scale, *inputScale);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::cat") {
      OpDesc d{OpKind::Cat};
      Entry& list = entry(n->input(0));
      auto dim = scalar(n->input(1));
      if (!list.isList || !dim) throw std::runtime_error("aten::cat over a non-constant list");
      std::vector<at::Tensor> ts;
      for (const Value* v : list.list) {
        d.in.push_back(tensorSlot(v));
        ts.push_back(slots_[d.in.back()]);
      }
      d.dim = dim->toLong();
      at::Tensor r = at::cat(ts, d.dim);
      push(std::move(d), std::move(r), n->output());
    } else if (k == "aten::dropout" || k == "aten::detach" || k == "aten::contiguous") {
      // Identity at inference (dropout with train=False) or for contiguous inputs.
      if (k == "aten::dropout") {
        auto train = scalar(n->input(2));
        if (!train || train->toBool()) throw std::runtime_error("aten::dropout in training mode");
      }
      int s = tensorSlot(n->input(0));
      if (k == "aten::contiguous" && !slots_[s].is_contiguous()) throw std::runtime_error("non-contiguous aten::contiguous");
      values[n->output()].slot = s;
    } else {
      throw std::runtime_error("unsupported node " + k);
    }
  }

  // Outputs: one tensor or a tuple of tensors, in order.
  std::vector<const Value*> outs;
  const Value* ret = graph->outputs()[0];
  Entry& retEntry = entry(ret);
  if (retEntry.isList) outs = retEntry.list;
  else outs = {ret};
  if (outs.size() != outputs.size()) throw std::runtime_error("output count differs from the interpreter's");
  std::vector<bool> substituted(slots_.size(), false);
  std::vector<std::pair<int, int>> copies;
  for (size_t i = 0; i < outs.size(); ++i) {
    int s = tensorSlot(outs[i]);
    const at::Tensor& t = slots_[s];
    if (t.sizes() != outputs[i].sizes() || t.scalar_type() != outputs[i].scalar_type()) {
      throw std::runtime_error("output " + std::to_string(i) + " differs in shape or dtype");
    }
    bool producedByOp = s >= inputSlots && s < static_cast<int>(substituted.size()) && !substituted[s];
    bool isConstant = entry(outs[i]).constant.has_value();
    if (producedByOp && !isConstant) {
      slots_[s] = outputs[i];  // the op writes straight into the caller's output
      substituted[s] = true;
    } else {
      copies.emplace_back(s, static_cast<int>(i));
    }
  }

  // Second pass: closures over the final slot tensors. Views are made here, once.
  for (const OpDesc& d : descs) {
    at::Tensor out = slots_[d.out];
    switch (d.kind) {
      case OpKind::Linear: {
        at::Tensor x = slots_[d.in[0]], w = slots_[d.in[1]];
        at::Tensor b = d.in[2] >= 0 ? slots_[d.in[2]] : at::Tensor();
        bool vec = x.dim() == 1 || x.size(0) == 1;
        if (vec && out.is_contiguous() && x.is_contiguous()) {
          // Batch 1: a matrix-vector product is much cheaper than addmm with M = 1.
          at::Tensor xv = x.view({x.size(-1)}), ov = out.view({out.size(-1)});
          if (b.defined()) ops_.push_back([ov, b, w, xv]() mutable { at::addmv_out(ov, b, w, xv); });
          else ops_.push_back([ov, w, xv]() mutable { at::mv_out(ov, w, xv); });
        } else {
          at::Tensor wt = w.t();
          std::vector<std::function<void()>> ways;
          if (b.defined()) ways.push_back([out, b, x, wt]() mutable { at::addmm_out(out, b, x, wt); });
          else ways.push_back([out, x, wt]() mutable { at::mm_out(out, x, wt); });
          if (auto dnnl = onednnLinear(out, x, w, b)) ways.push_back(std::move(dnnl));
          size_t best = fastest(ways);
          onednn_ += best == 1;
          ops_.push_back(std::move(ways[best]));
        }
        break;
      }
      case OpKind::Matmul: {
        at::Tensor a = slots_[d.in[0]], b = slots_[d.in[1]];
        ops_.push_back([out, a, b]() mutable { at::matmul_out(out, a, b); });
        break;
      }
      case OpKind::Mm: {
        at::Tensor a = slots_[d.in[0]], b = slots_[d.in[1]];
        ops_.push_back([out, a, b]() mutable { at::mm_out(out, a, b); });
        break;
      }
      case OpKind::Addmm: {
        at::Tensor c = slots_[d.in[0]], a = slots_[d.in[1]], b = slots_[d.in[2]];
        c10::Scalar beta = d.scalars[0], alpha = d.scalars[1];
        ops_.push_back([out, c, a, b, beta, alpha]() mutable { at::addmm_out(out, c, a, b, beta, alpha); });
        break;
      }
      case OpKind::Add: case OpKind::Sub: case OpKind::Mul: case OpKind::Div: {
        at::Tensor a = slots_[d.in[0]], b = slots_[d.in[1]];
        c10::Scalar alpha = d.scalars[0];
        switch (d.kind) {
          case OpKind::Add: ops_.push_back([out, a, b, alpha]() mutable { at::add_out(out, a, b, alpha); }); break;
          case OpKind::Sub: ops_.push_back([out, a, b, alpha]() mutable { at::sub_out(out, a, b, alpha); }); break;
          case OpKind::Mul: ops_.push_back([out, a, b]() mutable { at::mul_out(out, a, b); }); break;
          default: ops_.push_back([out, a, b]() mutable { at::div_out(out, a, b); }); break;
        }
        break;
      }
      case OpKind::Tanh: { at::Tensor x = slots_[d.in[0]]; ops_.push_back([out, x]() mutable { at::tanh_out(out, x); }); break; }
      case OpKind::Relu: { at::Tensor x = slots_[d.in[0]]; ops_.push_back([out, x]() mutable { at::clamp_min_out(out, x, 0); }); break; }
      case OpKind::Sigmoid: { at::Tensor x = slots_[d.in[0]]; ops_.push_back([out, x]() mutable { at::sigmoid_out(out, x); }); break; }
      case OpKind::Neg: { at::Tensor x = slots_[d.in[0]]; ops_.push_back([out, x]() mutable { at::neg_out(out, x); }); break; }
      case OpKind::Elu: {
        at::Tensor x = slots_[d.in[0]];
        c10::Scalar alpha = d.scalars[0], scale = d.scalars[1], inputScale = d.scalars[2];
        ops_.push_back([out, x, alpha, scale, inputScale]() mutable { at::elu_out(out, x, alpha, scale, inputScale); });
        break;
      }
      case OpKind::Cat: {
        std::vector<at::Tensor> ts;
        for (int s : d.in) ts.push_back(slots_[s]);
        int64_t dim = d.dim;
        ops_.push_back([out, ts, dim]() mutable { at::cat_out(out, ts, dim); });
        break;
      }
    }
  }
  for (auto [src, dst] : copies) finalCopies_.emplace_back(slots_[src], outputs[dst]);
}

void StepPlan::run() {
  for (auto& op : ops_) op();
  for (auto& [src, dst] : finalCopies_) dst.copy_(src);
}

}  // namespace

std::unique_ptr<Executor> makePlan(const Binding& b) {
  if (!b.model.device().is_cpu()) throw std::runtime_error("the plan is CPU only");
  if (b.model.training()) throw std::runtime_error("the model is in training mode");
  return std::make_unique<StepPlan>(b.model.module(), b.method, b.inputs, b.outputs);
}

}  // namespace torchloop
