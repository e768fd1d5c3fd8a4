#include "errors.h"

#include <c10/util/Exception.h>

#include <regex>

namespace torchloop {

const char* codeName(Code code) {
  switch (code) {
    case Code::ModelLoad: return "ERR_MODEL_LOAD";
    case Code::Argument: return "ERR_ARGUMENT";
    case Code::Dtype: return "ERR_DTYPE";
    case Code::Shape: return "ERR_SHAPE";
    case Code::Disposed: return "ERR_DISPOSED";
    case Code::Device: return "ERR_DEVICE";
    case Code::NotFound: return "ERR_NOT_FOUND";
    case Code::Distributed: return "ERR_DISTRIBUTED";
    case Code::Unsupported: return "ERR_UNSUPPORTED";
    case Code::Runtime: default: return "ERR_RUNTIME";
  }
}

std::string messageOf(const std::exception& e) {
  std::string msg;
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    msg = ce->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // TorchScript interpreter errors embed the serialized call stack ("The following
  // operation failed in the TorchScript interpreter. Traceback of TorchScript ...").
  // Keep the last line that says what failed; the user cannot act on the rest.
  const std::string marker = "RuntimeError: ";
  auto pos = msg.rfind(marker);
  if (pos != std::string::npos) msg = msg.substr(pos + marker.size());
  // Trim trailing whitespace and newlines.
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

Error classify(const std::exception& e, Code fallback, const std::string& context) {
  if (auto* own = dynamic_cast<const Error*>(&e)) return *own;
  std::string msg = messageOf(e);
  Code code = fallback;
  if (fallback == Code::Runtime) {
    static const std::regex dtypeRe(
        "(expected scalar type|expected .*dtype|dtype|Expected object of scalar type|"
        "found dtype|must have the same dtype|not implemented for '(Long|Int|Half|Bool|Byte|Char|Short)')",
        std::regex::icase);
    static const std::regex shapeRe(
        "(size mismatch|shape|must match the size|mat1 and mat2|dimension|sizes of tensors|"
        "expected .*dim|out of range|cannot be multiplied|broadcast)",
        std::regex::icase);
    if (std::regex_search(msg, dtypeRe)) code = Code::Dtype;
    else if (std::regex_search(msg, shapeRe)) code = Code::Shape;
  }
  return Error(code, context.empty() ? msg : context + ": " + msg);
}

}  // namespace torchloop
