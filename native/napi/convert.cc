#include "convert.h"

#include <algorithm>

#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "instance.h"

namespace torchloop::napi {

namespace {

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  napi_typedarray_type array;
};

const DtypeInfo kDtypes[] = {
    {"float32", at::kFloat, napi_float32_array},   {"float64", at::kDouble, napi_float64_array},
    {"float16", at::kHalf, napi_uint16_array},     {"bfloat16", at::kBFloat16, napi_uint16_array},
    {"int8", at::kChar, napi_int8_array},          {"int16", at::kShort, napi_int16_array},
    {"int32", at::kInt, napi_int32_array},         {"int64", at::kLong, napi_bigint64_array},
    {"uint8", at::kByte, napi_uint8_array},        {"bool", at::kBool, napi_uint8_array},
};

const DtypeInfo* byType(at::ScalarType t) {
  for (const auto& d : kDtypes) if (d.type == t) return &d;
  return nullptr;
}

const char* arrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

at::ScalarType dtypeOfArray(napi_typedarray_type t, const std::string& what) {
  switch (t) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int8_array: return at::kChar;
    case napi_uint8_array: return at::kByte;
    case napi_int16_array: return at::kShort;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    default:
      throw Error(Code::Dtype, "Expected a Float32Array, Float64Array, Int8/16/32Array, Uint8Array or BigInt64Array for " +
                                   what + " but received a " + arrayName(t));
  }
}

}  // namespace

at::ScalarType parseDtype(const std::string& dtype) {
  for (const auto& d : kDtypes) if (dtype == d.name) return d.type;
  throw Error(Code::Dtype, "Expected one of float32, float64, float16, bfloat16, int8, int16, int32, int64, uint8, bool "
                           "for dtype but received '" + dtype + "'");
}

const char* dtypeName(at::ScalarType t) {
  auto* d = byType(t);
  return d ? d->name : c10::toString(t);
}

std::string describeJs(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return std::string("boolean ") + (v.As<Napi::Boolean>().Value() ? "true" : "false");
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    std::ostringstream os;
    os << "number " << d;
    return os.str();
  }
  if (v.IsBigInt()) return "bigint";
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsTypedArray()) return std::string("a ") + arrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsFunction()) return "a function";
  return "an object";
}

namespace {

// A TypedArray's element type, length and data, whether its buffer is an ArrayBuffer or a
// SharedArrayBuffer (node-addon-api's TypedArray::ArrayBuffer() refuses the latter).
struct ArrayView {
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
};

ArrayView viewOf(Napi::Env env, const Napi::Value& v, const std::string& what) {
  ArrayView view{};
  if (napi_get_typedarray_info(env, v, &view.type, &view.length, &view.data, &view.buffer, nullptr) != napi_ok) {
    throw Error(Code::Argument, "Cannot read the TypedArray of " + what);
  }
  return view;
}

int64_t shapeDim(const Napi::Value& e, const std::string& what) {
  double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0) || d != std::floor(d) || d > 9007199254740991.0) {
    throw Error(Code::Shape, "Expected non-negative integers in the shape of " + what + " but received " + describeJs(e));
  }
  return static_cast<int64_t>(d);
}

}  // namespace

at::Tensor tensorFromJs(const Napi::Value& v, const std::string& what, InputPolicy keep) {
  Napi::Env env = v.Env();
  Napi::Value data;
  std::vector<int64_t> shape;
  c10::optional<at::ScalarType> declared;
  if (v.IsTypedArray()) {
    data = v;
  } else if (v.IsObject() && !v.IsArray()) {
    Napi::Object o = v.As<Napi::Object>();
    Napi::Value sh = o.Get("shape"), dt = o.Get("dtype");
    data = o.Get("data");
    if (!data.IsTypedArray() || !sh.IsArray()) {
      throw Error(Code::Argument, "Expected a Tensor or a TypedArray for " + what + " but received " + describeJs(v));
    }
    Napi::Array s = sh.As<Napi::Array>();
    if (s.Length() > 64) throw Error(Code::Shape, "Expected at most 64 dimensions for " + what + " but received " + std::to_string(s.Length()));
    for (uint32_t i = 0; i < s.Length(); ++i) shape.push_back(shapeDim(s.Get(i), what));
    if (dt.IsString()) declared = parseDtype(dt.As<Napi::String>().Utf8Value());
  } else {
    throw Error(Code::Argument, "Expected a Tensor or a TypedArray for " + what + " but received " + describeJs(v));
  }
  ArrayView view = viewOf(env, data, what);
  if (v.IsTypedArray()) shape = {static_cast<int64_t>(view.length)};
  at::ScalarType dtype = declared ? *declared : dtypeOfArray(view.type, what);
  const DtypeInfo* info = byType(dtype);
  if (!info || info->array != view.type) {
    throw Error(Code::Dtype, std::string("Expected a ") + (info ? arrayName(info->array) : "matching TypedArray") + " for " +
                                 what + " (dtype " + dtypeName(dtype) + ") but received a " + arrayName(view.type));
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(numel, d, &numel)) throw Error(Code::Shape, "The shape of " + what + " has too many elements");
  }
  if (numel != static_cast<int64_t>(view.length)) {
    bool detached = false;
    napi_is_detached_arraybuffer(env, view.buffer, &detached);
    if (detached) throw Error(Code::Argument, "The buffer of " + what + " has been detached (transferred): its data is gone");
    throw Error(Code::Shape, "Expected " + std::to_string(numel) + " elements for the shape of " + what + " but its data has " +
                                 std::to_string(view.length));
  }
  if (numel == 0) return at::empty(shape, at::TensorOptions().dtype(dtype));
  at::Tensor t = at::from_blob(view.data, shape, at::TensorOptions().dtype(dtype));
  return keep.copy ? t.clone() : t;
}

c10::IValue toIValue(const Napi::Value& v, const c10::TypePtr& type, const std::string& what, InputPolicy keep) {
  using K = c10::TypeKind;
  auto expected = [&](const std::string& kind) {
    return Error(Code::Argument, "Expected " + kind + " for " + what + " but received " + describeJs(v));
  };
  switch (type->kind()) {
    case K::TensorType:
      return tensorFromJs(v, what, keep);
    case K::IntType:
      // int is int64: a value outside it is an error, never a wrapped or saturated one.
      if (v.IsBigInt()) {
        bool lossless = false;
        int64_t i = v.As<Napi::BigInt>().Int64Value(&lossless);
        if (lossless) return i;
        throw expected("an integer within int64 (int)");
      }
      if (v.IsNumber()) {
        double d = v.As<Napi::Number>().DoubleValue();
        if (std::floor(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0) return static_cast<int64_t>(d);
        if (std::floor(d) == d && std::isfinite(d)) throw expected("an integer within int64 (int)");
      }
      throw expected("an integer (int)");
    case K::FloatType:
      if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
      throw expected("a number (float)");
    case K::NumberType:
      if (v.IsNumber()) {
        double d = v.As<Napi::Number>().DoubleValue();
        if (std::floor(d) == d && std::abs(d) < 9007199254740992.0) return static_cast<int64_t>(d);
        return d;
      }
      throw expected("a number");
    case K::BoolType:
      if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
      throw expected("a boolean");
    case K::StringType:
      if (v.IsString()) return v.As<Napi::String>().Utf8Value();
      throw expected("a string");
    case K::NoneType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      throw expected("null");
    case K::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return toIValue(v, type->expectRef<c10::OptionalType>().getElementType(), what, keep);
    case K::ListType: {
      if (!v.IsArray()) throw expected("an array (" + type->annotation_str() + ")");
      auto elem = type->expectRef<c10::ListType>().getElementType();
      Napi::Array a = v.As<Napi::Array>();
      c10::impl::GenericList list(elem);
      list.reserve(a.Length());
      for (uint32_t i = 0; i < a.Length(); ++i) {
        list.push_back(toIValue(a.Get(i), elem, what + "[" + std::to_string(i) + "]", keep));
      }
      return list;
    }
    case K::TupleType: {
      const auto& tt = type->expectRef<c10::TupleType>();
      const auto& elems = tt.elements();
      std::vector<c10::IValue> items;
      // A NamedTuple takes an array of its fields in order, or an object of them by name.
      const auto& schema = tt.schema();
      if (schema && v.IsObject() && !v.IsArray() && !v.IsTypedArray()) {
        Napi::Object o = v.As<Napi::Object>();
        const auto& fields = schema->arguments();
        for (size_t i = 0; i < fields.size(); ++i) {
          if (!o.Has(fields[i].name())) throw expected("an object with field '" + fields[i].name() + "' (" + type->annotation_str() + ")");
          items.push_back(toIValue(o.Get(fields[i].name()), elems[i], what + "." + fields[i].name(), keep));
        }
      } else {
        if (!v.IsArray() || v.As<Napi::Array>().Length() != elems.size()) {
          throw expected("an array of " + std::to_string(elems.size()) + (schema ? " or an object of its fields" : "") + " (" +
                         type->annotation_str() + ")");
        }
        Napi::Array a = v.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) items.push_back(toIValue(a.Get(i), elems[i], what + "[" + std::to_string(i) + "]", keep));
      }
      if (schema) return c10::ivalue::Tuple::createNamed(std::move(items), type->expect<c10::TupleType>());
      return c10::ivalue::Tuple::create(std::move(items));
    }
    case K::UnionType: {
      // The first member the value converts to, an integer-valued number trying int first
      // (as Python passes 3 to Union[int, str] as an int).
      std::vector<c10::TypePtr> members(type->containedTypes().begin(), type->containedTypes().end());
      if (v.IsNumber()) {
        double d = v.As<Napi::Number>().DoubleValue();
        bool integral = std::floor(d) == d && std::isfinite(d);
        std::stable_partition(members.begin(), members.end(), [&](const c10::TypePtr& t) {
          return integral ? t->kind() == K::IntType : t->kind() == K::FloatType;
        });
      }
      for (const auto& m : members) {
        try {
          return toIValue(v, m, what, keep);
        } catch (const Error&) {
        }
      }
      throw expected("a value of " + type->annotation_str());
    }
    case K::DictType: {
      const auto& dt = type->expectRef<c10::DictType>();
      if (dt.getKeyType()->kind() != K::StringType) throw expected("a supported dict (only Dict[str, T] crosses from JavaScript)");
      if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) throw expected("a plain object (" + type->annotation_str() + ")");
      Napi::Object o = v.As<Napi::Object>();
      Napi::Array keys = o.GetPropertyNames();
      c10::impl::GenericDict dict(dt.getKeyType(), dt.getValueType());
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        std::string key = keys.Get(i).ToString().Utf8Value();
        dict.insert(key, toIValue(o.Get(key), dt.getValueType(), what + "." + key, keep));
      }
      return dict;
    }
    default: {
      // Any, Union and the like: infer from the JavaScript value.
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
      if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
      if (v.IsString()) return v.As<Napi::String>().Utf8Value();
      if (v.IsTypedArray() || (v.IsObject() && v.As<Napi::Object>().Has("data"))) return tensorFromJs(v, what, keep);
      throw Error(Code::Argument, "Cannot pass " + describeJs(v) + " for " + what + " of TorchScript type " + type->annotation_str());
    }
  }
}

std::vector<c10::IValue> argumentsFromJs(const Napi::Array& args, const MethodSignature& sig, InputPolicy keep) {
  std::string call = sig.name + "(";
  for (size_t i = 0; i < sig.arguments.size(); ++i) call += (i ? ", " : "") + sig.arguments[i].name + ": " + sig.arguments[i].type;
  call += ")";
  if (args.Length() > sig.arguments.size()) {
    throw Error(Code::Argument, "Expected at most " + std::to_string(sig.arguments.size()) + " argument(s) for " + call +
                                    " but received " + std::to_string(args.Length()));
  }
  std::vector<c10::IValue> out;
  out.reserve(sig.arguments.size());
  for (size_t i = 0; i < sig.arguments.size(); ++i) {
    const auto& a = sig.arguments[i];
    if (i >= args.Length() || args.Get(i).IsUndefined()) {
      if (a.hasDefault) {
        out.push_back(a.defaultValue);
        continue;
      }
      if (a.typePtr->kind() == c10::TypeKind::OptionalType) {
        out.emplace_back();
        continue;
      }
      throw Error(Code::Argument, "Expected " + a.type + " for argument '" + a.name + "' of " + call + " but received " +
                                      (i >= args.Length() ? std::string("nothing") : std::string("undefined")));
    }
    out.push_back(toIValue(args.Get(i), a.typePtr, "argument '" + a.name + "' of " + sig.name + "()", keep));
  }
  return out;
}

namespace {

// Below this size an output is copied into a V8-owned ArrayBuffer. Node runs the finalizer
// of an external ArrayBuffer only when the event loop next turns, so a synchronous loop of
// forwardSync() calls would hold every output's libtorch memory until it yields; V8-owned
// memory is accounted and freed by the GC itself. The copy is small next to the compute.
constexpr size_t kZeroCopyMinBytes = 256 * 1024;

Napi::Value wrapBuffer(Napi::Env env, Napi::ArrayBuffer buffer, const at::Tensor& t) {
  const DtypeInfo* info = byType(t.scalar_type());
  Napi::TypedArray arr;
  size_t n = static_cast<size_t>(t.numel());
  switch (info->array) {
    case napi_float32_array: arr = Napi::Float32Array::New(env, n, buffer, 0); break;
    case napi_float64_array: arr = Napi::Float64Array::New(env, n, buffer, 0); break;
    case napi_uint16_array: arr = Napi::Uint16Array::New(env, n, buffer, 0); break;
    case napi_int8_array: arr = Napi::Int8Array::New(env, n, buffer, 0); break;
    case napi_int16_array: arr = Napi::Int16Array::New(env, n, buffer, 0); break;
    case napi_int32_array: arr = Napi::Int32Array::New(env, n, buffer, 0); break;
    case napi_bigint64_array: arr = Napi::TypedArrayOf<int64_t>::New(env, n, buffer, 0, napi_bigint64_array); break;
    default: arr = Napi::Uint8Array::New(env, n, buffer, 0); break;
  }
  Napi::Array shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  return instance(env).tensor.New({arr, shape, Napi::String::New(env, info->name)});
}

void checkCrossable(Napi::Env env, const at::Tensor& t) {
  if (!byType(t.scalar_type())) {
    throw Error(Code::Dtype, std::string("tensors of dtype ") + c10::toString(t.scalar_type()) + " cannot cross to JavaScript");
  }
  const double bytes = static_cast<double>(t.numel()) * static_cast<double>(t.element_size());
  if (bytes > instance(env).maxArrayBufferBytes) {
    throw Error(Code::Runtime, "A tensor of " + std::to_string(t.numel()) + " elements (" + std::to_string(bytes / 1e9) +
                                   " GB) is larger than the largest ArrayBuffer this Node can make");
  }
}

struct ExternalHolder {
  at::Tensor tensor;
  int64_t accounted;
};

}  // namespace

Napi::Value exportOwnedTensor(Napi::Env env, const at::Tensor& t) {
  checkCrossable(env, t);
  const size_t bytes = t.nbytes();
  if (bytes == 0) return wrapBuffer(env, Napi::ArrayBuffer::New(env, 0), t);
  auto* holder = new ExternalHolder{t, static_cast<int64_t>(bytes)};
  Napi::MemoryManagement::AdjustExternalMemory(env, holder->accounted);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, holder->tensor.data_ptr(), bytes,
      [](Napi::Env env, void*, ExternalHolder* h) {
        Napi::MemoryManagement::AdjustExternalMemory(env, -h->accounted);
        delete h;
      },
      holder);
  return wrapBuffer(env, buffer, t);
}

Napi::Value copyTensorToJs(Napi::Env env, const at::Tensor& t) {
  checkCrossable(env, t);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, t.nbytes());
  if (t.nbytes()) std::memcpy(buffer.Data(), t.data_ptr(), t.nbytes());
  return wrapBuffer(env, buffer, t);
}

Napi::Value tensorToJs(Napi::Env env, const at::Tensor& src, bool allowZeroCopy) {
  at::Tensor t = src;
  if (!t.device().is_cpu()) t = t.to(at::kCPU);
  // Zero-copy only when this tensor alone owns memory that libtorch allocated: not an input
  // (from_blob storage has no allocator), not a parameter or a second reference, not a view.
  bool exclusive = allowZeroCopy && src.device().is_cpu() && src.use_count() <= 2 && t.is_contiguous() &&
                   t.storage_offset() == 0 && t.storage().use_count() == 1 && t.storage().allocator() != nullptr &&
                   t.storage().nbytes() == t.nbytes();
  if (!t.is_contiguous()) t = t.contiguous();
  if (!exclusive || t.nbytes() < kZeroCopyMinBytes) return copyTensorToJs(env, t);
  return exportOwnedTensor(env, t.requires_grad() ? t.detach() : t);
}

Napi::Value fromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return tensorToJs(env, v.toTensor(), true);
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) {
    int64_t i = v.toInt();
    if (i > 9007199254740991LL || i < -9007199254740991LL) return Napi::BigInt::New(env, i);
    return Napi::Number::New(env, static_cast<double>(i));
  }
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    Napi::Array a = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) a.Set(static_cast<uint32_t>(i), fromIValue(env, elems[i]));
    return a;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) a.Set(static_cast<uint32_t>(i), fromIValue(env, list[i]));
    return a;
  }
  if (v.isGenericDict()) {
    auto dict = v.toGenericDict();
    bool stringKeys = dict.keyType()->kind() == c10::TypeKind::StringType;
    if (stringKeys) {
      Napi::Object o = Napi::Object::New(env);
      for (const auto& e : dict) o.Set(e.key().toStringRef(), fromIValue(env, e.value()));
      return o;
    }
    Napi::Object map = env.Global().Get("Map").As<Napi::Function>().New({});
    Napi::Function set = map.Get("set").As<Napi::Function>();
    for (const auto& e : dict) set.Call(map, {fromIValue(env, e.key()), fromIValue(env, e.value())});
    return map;
  }
  if (v.isDevice()) return Napi::String::New(env, v.toDevice().str());
  throw Error(Code::Runtime, "A value of TorchScript type " + v.type()->annotation_str() + " cannot cross to JavaScript");
}

}  // namespace torchloop::napi
