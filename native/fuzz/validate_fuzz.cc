// libFuzzer target: the archive checks alone (native/core/validate.cc, no libtorch), built
// with AddressSanitizer and UBSan. Any input must end in success or a ValidationError.
#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include "core/validate.h"

namespace {
size_t inflateRaw(void* out, size_t outLen, const void* in, size_t inLen) {
  z_stream s{};
  if (inflateInit2(&s, -15) != Z_OK) return static_cast<size_t>(-1);
  s.next_in = static_cast<Bytef*>(const_cast<void*>(in));
  s.avail_in = static_cast<uInt>(inLen);
  s.next_out = static_cast<Bytef*>(out);
  s.avail_out = static_cast<uInt>(outLen);
  int rc = inflate(&s, Z_FINISH);
  size_t n = outLen - s.avail_out;
  inflateEnd(&s);
  return rc == Z_STREAM_END ? n : static_cast<size_t>(-1);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    torchloop::validateArchive(reinterpret_cast<const char*>(data), size, inflateRaw);
  } catch (const torchloop::ValidationError&) {
  }
  // The same bytes as a PT2 package (the zip checks, archive_format, names that stay inside).
  try {
    torchloop::readPackage(reinterpret_cast<const char*>(data), size);
  } catch (const torchloop::ValidationError&) {
  }
  return 0;
}
