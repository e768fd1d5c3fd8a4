// The validating loader's checks: a TorchScript archive is examined before libtorch reads a
// byte of it, because libtorch's unpickler and TorchScript compiler trust their input (a
// malformed file can crash or hang the process, or load and run on uninitialised memory).
// Plain C++, no libtorch: native/fuzz/ builds it alone under libFuzzer.
//
// What is checked:
//  - the zip structure: end of central directory (zip64 too), every entry's local header and
//    data inside the file; records stored or deflated (torch.jit.save deflates the code), with
//    sizes that deflate can produce;
//  - data.pkl, constants.pkl and the code's .debug_pkl files, against the subset of pickle
//    that libtorch's unpickler reads: an opcode whitelist, a simulated stack (no underflow, no
//    pop across a MARK), bounded nesting, strings, containers and memo;
//  - every tensor: its storage record exists and holds numel x element size bytes, and its
//    sizes, strides and offset stay inside that storage;
//  - the TorchScript sources (code/**.py): bracket and indentation nesting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace torchloop {

struct ValidationLimits {
  size_t maxRecords = 1 << 20;
  size_t maxNesting = 1000;          // containers inside containers, and open MARKs
  size_t maxValues = 1 << 22;        // values a pickle may build
  size_t maxStringBytes = 1u << 30;  // one string (also bounded by its record)
  uint64_t maxTensorElements = uint64_t(1) << 40;
  size_t maxSourceNesting = 256;     // brackets in TorchScript source
  size_t maxSourceIndent = 1024;     // leading whitespace of a source line
  uint64_t maxInflatedBytes = 256ull << 20;  // one deflated record, inflated
};

// Raw-deflate decompression into a buffer of exactly the record's size; returns the bytes
// written, or (size_t)-1 on failure. The addon passes libtorch's own miniz, the fuzzer zlib;
// without one, deflated records (code and debug info) are not checked.
using Inflate = size_t (*)(void* out, size_t outLen, const void* in, size_t inLen);

// A check that failed: where (a record, a byte offset in it) and what.
class ValidationError : public std::runtime_error {
 public:
  ValidationError(std::string record, uint64_t offset, const std::string& what)
      : std::runtime_error(what), record_(std::move(record)), offset_(offset) {}
  const std::string& record() const { return record_; }
  uint64_t offset() const { return offset_; }
  // "data.pkl, byte 123: BINPERSID on an empty stack"
  std::string describe() const;

 private:
  std::string record_;
  uint64_t offset_;
};

// A TorchScript archive of format version 1 (model.json, written by PyTorch 1.0 to 1.3), which
// libtorch no longer reads.
class LegacyArchive : public ValidationError {
 public:
  explicit LegacyArchive(std::string record)
      : ValidationError(std::move(record), 0, "a legacy TorchScript archive (format version 1, model.json)") {}
};

struct ArchiveRecord {
  std::string name;      // without the archive's top folder, e.g. "data.pkl", "data/0"
  uint64_t offset = 0;   // of the data in the file
  uint64_t size = 0;     // its size (inflated, for a deflated record)
  uint64_t stored = 0;   // its size in the file
  bool deflated = false;
  uint64_t nameAt[2] = {0, 0};  // where its full name starts: in the central directory, in its local header
};

struct ArchiveInfo {
  std::string prefix;                  // the top folder, e.g. "model/"
  std::vector<ArchiveRecord> records;
  // Operators the TorchScript sources call ("aten::linear", "prim::NumToTensor", ...), each
  // with its first call site ("code/__torch__.py:12").
  std::vector<std::pair<std::string, std::string>> calledOps;
  bool has(std::string_view name) const;
  const ArchiveRecord* find(std::string_view name) const;
};

// Reads and checks the zip structure alone (the records, their places and sizes).
ArchiveInfo readArchive(const char* data, size_t size, const ValidationLimits& limits = {});

// Reads and checks a PT2 package (torch.export / AOTInductor): the zip structure, an
// archive_format record saying "pt2", and names that stay inside the package's folder.
ArchiveInfo readPackage(const char* data, size_t size, const ValidationLimits& limits = {});

// Checks a whole archive held in memory; throws ValidationError on the first problem.
ArchiveInfo validateArchive(const char* data, size_t size, Inflate inflate, const ValidationLimits& limits = {});

// Checks TorchScript source text (a file of the archive, or Model.compile's input).
void validateSource(std::string_view source, const std::string& where, const ValidationLimits& limits = {});

}  // namespace torchloop
