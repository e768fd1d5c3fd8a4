// torchloop core errors: every failure the core reports carries a stable code that the
// N-API layer turns into a TorchError with the same `code` in JavaScript.
#pragma once
#include <exception>
#include <stdexcept>
#include <string>

namespace torchloop {

enum class Code { ModelLoad, Argument, Dtype, Shape, Disposed, Runtime, Device, NotFound, Distributed, Unsupported };

const char* codeName(Code code);

class Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// Classifies a libtorch failure (c10::Error or any std::exception) into an Error with a
// readable message: no C++ backtrace, and a code guessed from what went wrong (a dtype or
// shape mismatch inside the model gets ERR_DTYPE / ERR_SHAPE, anything else `fallback`).
Error classify(const std::exception& e, Code fallback, const std::string& context);

// The message of a c10::Error without its backtrace; what() for anything else.
std::string messageOf(const std::exception& e);

}  // namespace torchloop
