#include "validate.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

namespace torchloop {

std::string ValidationError::describe() const {
  std::string where = record_.empty() ? std::string("the archive") : record_;
  return where + ", byte " + std::to_string(offset_) + ": " + what();
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}
}  // namespace

bool ArchiveInfo::has(std::string_view name) const { return find(name) != nullptr; }

// libtorch finds records with miniz's case-insensitive match, and so does this.
const ArchiveRecord* ArchiveInfo::find(std::string_view name) const {
  const std::string want = lower(name);
  for (const auto& r : records) {
    if (lower(r.name) == want) return &r;
  }
  return nullptr;
}

namespace {

// ---- bytes ---------------------------------------------------------------------------

class Reader {
 public:
  Reader(const char* data, size_t size, std::string record) : p_(reinterpret_cast<const uint8_t*>(data)), size_(size), record_(std::move(record)) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }
  void need(size_t n, const char* what) const {
    if (n > left()) fail(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " + std::to_string(left()) + " left");
  }
  template <typename T>
  T le() {
    need(sizeof(T), "a number");
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p_[pos_ + i]) << (8 * i));
    pos_ += sizeof(T);
    return v;
  }
  uint8_t byte() { return le<uint8_t>(); }
  std::string_view bytes(size_t n, const char* what) {
    need(n, what);
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  [[noreturn]] void fail(size_t at, const std::string& what) const { throw ValidationError(record_, at, what); }

 private:
  const uint8_t* p_;
  size_t size_, pos_ = 0;
  std::string record_;
};

uint32_t le32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<uint32_t>(u[3]) << 24);
}
uint16_t le16(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint64_t le64(const char* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

// ---- zip -----------------------------------------------------------------------------

ArchiveInfo readZip(const char* data, size_t size, const ValidationLimits& limits) {
  auto fail = [](uint64_t at, const std::string& what) -> void { throw ValidationError("", at, what); };
  if (size < 22) fail(0, "too short to be a zip archive (" + std::to_string(size) + " bytes)");
  // End of central directory: the last 22 bytes, or earlier by up to a 65535-byte comment.
  size_t eocd = std::string::npos;
  for (size_t i = size - 22 + 1; i-- > (size > 22 + 65535 ? size - 22 - 65535 : 0);) {
    if (le32(data + i) == 0x06054b50 && i + 22 + le16(data + i + 20) == size) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) fail(size, "no end-of-central-directory record: not a zip archive, or a truncated one");
  // The records are what libtorch's zip reader (miniz) will see, so read the directory the way
  // it does: a zip64 locator before the record means the zip64 values count (torch.jit.save
  // always writes them), and every count must agree, or the two readers could disagree on
  // which records exist.
  uint64_t diskEntries = le16(data + eocd + 8), entries = le16(data + eocd + 10);
  uint64_t cdSize = le32(data + eocd + 12), cdOffset = le32(data + eocd + 16);
  if (le16(data + eocd + 4) != 0 || le16(data + eocd + 6) != 0) fail(eocd, "a multi-disk zip archive");
  if (eocd >= 20 && le32(data + eocd - 20) == 0x07064b50) {
    uint64_t z = le64(data + eocd - 20 + 8);
    if (size < 56 || z > size - 56 || le32(data + z) != 0x06064b50) fail(eocd - 20, "the zip64 end-of-central-directory is outside the file");
    uint64_t z64Disk = le64(data + z + 24), z64Entries = le64(data + z + 32), z64Size = le64(data + z + 40), z64Offset = le64(data + z + 48);
    if (le32(data + z + 16) != 0 || le32(data + z + 20) != 0) fail(z, "a multi-disk zip archive");
    auto agrees = [](uint64_t plain, uint64_t wide, uint64_t escape) { return plain == escape || plain == wide; };
    if (!agrees(entries, z64Entries, 0xFFFF) || !agrees(diskEntries, z64Disk, 0xFFFF) || !agrees(cdSize, z64Size, 0xFFFFFFFFu) ||
        !agrees(cdOffset, z64Offset, 0xFFFFFFFFu)) {
      fail(z, "the zip64 and the plain end-of-central-directory records disagree");
    }
    diskEntries = z64Disk;
    entries = z64Entries;
    cdSize = z64Size;
    cdOffset = z64Offset;
  } else if (entries == 0xFFFF || cdSize == 0xFFFFFFFFu || cdOffset == 0xFFFFFFFFu) {
    fail(eocd, "zip64 sizes without a zip64 locator");
  }
  if (diskEntries != entries) fail(eocd, "the record counts disagree (" + std::to_string(diskEntries) + " and " + std::to_string(entries) + ")");
  if (entries > limits.maxRecords) fail(eocd, std::to_string(entries) + " records (at most " + std::to_string(limits.maxRecords) + ")");
  if (cdOffset > size || cdSize > size - cdOffset) fail(eocd, "the central directory lies outside the file");

  ArchiveInfo info;
  std::set<std::string> seen;
  uint64_t at = cdOffset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > cdOffset + cdSize || le32(data + at) != 0x02014b50) fail(at, "central directory entry " + std::to_string(e) + " is damaged");
    const char* h = data + at;
    uint16_t method = le16(h + 10), nameLen = le16(h + 28), extraLen = le16(h + 30), commentLen = le16(h + 32);
    uint64_t compSize = le32(h + 20), size64 = le32(h + 24), local = le32(h + 42);
    if (at + 46 + nameLen + extraLen + commentLen > cdOffset + cdSize) fail(at, "central directory entry " + std::to_string(e) + " runs past the directory");
    std::string name(h + 46, nameLen);
    // zip64 extra field: the 8-byte values of the fields that hold 0xFFFFFFFF, in order.
    for (const char *x = h + 46 + nameLen, *end = x + extraLen; x + 4 <= end;) {
      uint16_t id = le16(x), len = le16(x + 2);
      if (x + 4 + len > end) fail(at, "the extra field of '" + name + "' is damaged");
      if (id == 0x0001) {
        const char* f = x + 4;
        auto take = [&](uint64_t& v) {
          if (v != 0xFFFFFFFFu) return;
          if (f + 8 > x + 4 + len) fail(at, "the zip64 field of '" + name + "' is short");
          v = le64(f);
          f += 8;
        };
        take(size64);
        take(compSize);
        take(local);
      }
      x += 4 + len;
    }
    if (method != 0 && method != 8) fail(at, "record '" + name + "' uses compression method " + std::to_string(method) + " (torch.jit.save stores or deflates)");
    if (method == 0 && compSize != size64) fail(at, "stored record '" + name + "' has two sizes");
    // Deflate expands at most 1032:1; a larger claim is a lie about the size.
    if (method == 8 && (size64 > limits.maxInflatedBytes || size64 > compSize * 1032 + 1024)) {
      fail(at, "deflated record '" + name + "' claims " + std::to_string(size64) + " bytes from " + std::to_string(compSize));
    }
    if (size < 30 || local > size - 30 || le32(data + local) != 0x04034b50) fail(local, "the local header of '" + name + "' is missing or damaged");
    uint64_t dataOffset = local + 30 + le16(data + local + 26) + le16(data + local + 28);
    if (dataOffset > size || compSize > size - dataOffset) {
      fail(local, "record '" + name + "' (" + std::to_string(compSize) + " bytes) runs past the end of the file");
    }
    if (le16(data + local + 26) != nameLen || std::memcmp(data + local + 30, name.data(), nameLen) != 0) {
      fail(local, "record '" + name + "' has another name in its local header");
    }
    auto slash = name.find('/');
    if (slash == std::string::npos || slash == 0) fail(at, "record '" + name + "' is not inside the archive's folder");
    std::string prefix = name.substr(0, slash + 1);
    if (info.prefix.empty()) info.prefix = prefix;
    if (prefix != info.prefix) fail(at, "record '" + name + "' is outside the archive's folder '" + info.prefix + "'");
    if (!seen.insert(lower(name)).second) fail(at, "record '" + name + "' appears twice (names are matched regardless of case)");
    info.records.push_back({name.substr(slash + 1), dataOffset, size64, compSize, method == 8, {at + 46, local + 30}});
    at += 46 + nameLen + extraLen + commentLen;
  }
  if (at != cdOffset + cdSize) fail(at, "the central directory holds more than its " + std::to_string(entries) + " records");
  return info;
}

[[noreturn]] void zipFail(uint64_t at, const std::string& what) { throw ValidationError("", at, what); }

ArchiveInfo readTorchScriptZip(const char* data, size_t size, const ValidationLimits& limits) {
  ArchiveInfo info = readZip(data, size, limits);
  if (!info.has("data.pkl")) {
    if (info.has("model.json")) throw LegacyArchive(info.prefix + "model.json");
    zipFail(size, "no data.pkl record: not a TorchScript archive");
  }
  return info;
}

// ---- pickle --------------------------------------------------------------------------

// What the simulated unpickler keeps of each value: enough to check arities, tensors'
// extents against their storages, and nesting.
struct Node {
  enum Kind : uint8_t { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, ScalarType, Storage, Tensor, Object, Other } kind;
  uint32_t depth = 0;
  int64_t i = 0;              // Int's value; ScalarType's element size; Storage's numel
  int64_t elem = 0;           // Storage's element size
  std::string s;              // Str (its first 256 bytes), Global "module.name", Storage key
  std::vector<uint32_t> items;  // Tuple and List elements; Dict keys and values
};

const char* kindName(Node::Kind k) {
  static const char* names[] = {"None", "bool", "int", "float", "str", "tuple", "list", "dict", "global", "storage type", "storage", "tensor", "object", "value"};
  return names[k];
}

// Element sizes of the storage types libtorch's unpickler knows ("torch.FloatStorage", ...).
int64_t storageElementSize(const std::string& name) {
  static const std::unordered_map<std::string, int64_t> sizes = {
      {"ByteStorage", 1}, {"CharStorage", 1}, {"ShortStorage", 2}, {"IntStorage", 4}, {"LongStorage", 8},
      {"HalfStorage", 2}, {"FloatStorage", 4}, {"DoubleStorage", 8}, {"ComplexHalfStorage", 4},
      {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16}, {"BoolStorage", 1}, {"QInt8Storage", 1},
      {"QUInt8Storage", 1}, {"QInt32Storage", 4}, {"BFloat16Storage", 2}, {"QUInt4x2Storage", 1},
      {"QUInt2x4Storage", 1}, {"Float8_e5m2Storage", 1}, {"Float8_e4m3fnStorage", 1}, {"Float8_e5m2fnuzStorage", 1},
      {"Float8_e4m3fnuzStorage", 1}, {"UInt16Storage", 2}, {"UInt32Storage", 4}, {"UInt64Storage", 8},
  };
  auto it = sizes.find(name);
  return it == sizes.end() ? 0 : it->second;
}

class Pickle {
 public:
  Pickle(const ArchiveInfo& archive, const std::string& record, std::string_view bytes, std::string tensorFolder, const ValidationLimits& limits)
      : archive_(archive), in_(bytes.data(), bytes.size(), record), record_(record), folder_(std::move(tensorFolder)), limits_(limits) {}

  void run() {
    uint8_t op = in_.byte();
    if (op != 0x80) in_.fail(0, "a TorchScript pickle starts with PROTO 2 (found byte " + std::to_string(op) + ")");
    if (uint8_t proto = in_.byte(); proto != 2) in_.fail(1, "pickle protocol " + std::to_string(proto) + " (TorchScript writes 2)");
    for (;;) {
      at_ = in_.pos();
      op = in_.byte();
      if (op == '.') break;  // STOP
      step(op);
    }
    if (!marks_.empty()) fail("STOP with a MARK still open");
    if (stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack (1 expected)");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { in_.fail(at_, what); }

  uint32_t add(Node n) {
    if (nodes_.size() >= limits_.maxValues) fail("more than " + std::to_string(limits_.maxValues) + " values");
    if (n.depth > limits_.maxNesting) fail("values nested more than " + std::to_string(limits_.maxNesting) + " deep");
    nodes_.push_back(std::move(n));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  void push(uint32_t v) {
    if (stack_.size() >= limits_.maxValues) fail("the stack grows past " + std::to_string(limits_.maxValues) + " values");
    stack_.push_back(v);
  }
  void push(Node n) { push(add(std::move(n))); }
  // Values above the innermost MARK: a pop may not reach below it.
  size_t available() const { return stack_.size() - (marks_.empty() ? 0 : marks_.back()); }
  void needItems(size_t n, const char* op) const {
    if (available() < n) {
      fail(std::string(op) + " needs " + std::to_string(n) + " value(s) on the stack but " + (marks_.empty() ? "there are " : "above the MARK there are ") +
           std::to_string(available()));
    }
  }
  uint32_t pop() {
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Node& node(uint32_t v) { return nodes_[v]; }
  const Node& expect(uint32_t v, Node::Kind k, const std::string& what) const {
    if (nodes_[v].kind != k) fail(what + " is a " + kindName(nodes_[v].kind) + " (a " + kindName(k) + " expected)");
    return nodes_[v];
  }
  size_t popMark(const char* op) {
    if (marks_.empty()) fail(std::string(op) + " without a MARK");
    size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }
  uint32_t container(std::vector<uint32_t> items, Node::Kind kind) {
    Node n{kind};
    for (uint32_t it : items) n.depth = std::max(n.depth, nodes_[it].depth + 1);
    n.items = std::move(items);
    return add(std::move(n));
  }
  // Adds items to a container already made (APPENDS, SETITEMS): no cycles, bounded depth.
  void extend(uint32_t c, const std::vector<uint32_t>& items) {
    for (uint32_t it : items) {
      if (reaches(it, c)) fail("a container would contain itself");
      node(c).depth = std::max(node(c).depth, node(it).depth + 1);
      if (node(c).depth > limits_.maxNesting) fail("values nested more than " + std::to_string(limits_.maxNesting) + " deep");
      node(c).items.push_back(it);
      if (node(c).items.size() > limits_.maxValues) fail("a container of more than " + std::to_string(limits_.maxValues) + " items");
    }
  }
  bool reaches(uint32_t from, uint32_t target) {
    if (from == target) return true;
    if (node(from).items.empty()) return false;
    std::vector<uint32_t> todo{from};
    std::vector<bool> seen(nodes_.size(), false);
    while (!todo.empty()) {
      uint32_t v = todo.back();
      todo.pop_back();
      if (++searchBudget_ > 16 * limits_.maxValues) fail("the value graph is too tangled to check");
      for (uint32_t it : node(v).items) {
        if (it == target) return true;
        if (!seen[it]) {
          seen[it] = true;
          todo.push_back(it);
        }
      }
    }
    return false;
  }

  std::string readLine(const char* what) {
    std::string s;
    for (;;) {
      char c = static_cast<char>(in_.byte());
      if (c == '\n') break;
      if (!(c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        fail(std::string("GLOBAL's ") + what + " holds a byte that is not part of a Python name");
      }
      if (s.size() >= 256) fail(std::string("GLOBAL's ") + what + " is longer than 256 bytes");
      s.push_back(c);
    }
    return s;
  }

  void memoPut(uint64_t id) {
    if (stack_.empty()) fail("BINPUT on an empty stack");
    if (id > memo_.size()) fail("memo slot " + std::to_string(id) + " skips past the " + std::to_string(memo_.size()) + " slots in use");
    if (id == memo_.size()) {
      if (memo_.size() >= limits_.maxValues) fail("the memo grows past " + std::to_string(limits_.maxValues) + " slots");
      memo_.push_back(stack_.back());
    } else {
      memo_[id] = stack_.back();
    }
  }
  void memoGet(uint64_t id) {
    if (id >= memo_.size()) fail("memo slot " + std::to_string(id) + " was never stored (" + std::to_string(memo_.size()) + " in use)");
    push(memo_[id]);
  }

  void checkTensor(const Node& args, bool quantized) {
    if (args.items.size() < 6) fail("a tensor is rebuilt from " + std::to_string(args.items.size()) + " arguments (at least 6 expected)");
    const Node& storage = expect(args.items[0], Node::Storage, "a tensor's storage");
    int64_t offset = expect(args.items[1], Node::Int, "a tensor's storage offset").i;
    const Node& size = expect(args.items[2], Node::Tuple, "a tensor's size");
    const Node& stride = expect(args.items[3], Node::Tuple, "a tensor's stride");
    if (size.items.size() != stride.items.size()) fail("a tensor has " + std::to_string(size.items.size()) + " sizes but " + std::to_string(stride.items.size()) + " strides");
    if (size.items.size() > 64) fail("a tensor of " + std::to_string(size.items.size()) + " dimensions (at most 64)");
    if (offset < 0) fail("a tensor's storage offset is negative");
    if (!quantized) expect(args.items[4], Node::Bool, "a tensor's requires_grad");
    // The last element it reaches: offset + sum((size - 1) * stride), in 128 bits.
    __int128 last = offset, numel = 1;
    for (size_t d = 0; d < size.items.size(); ++d) {
      int64_t sz = expect(size.items[d], Node::Int, "a tensor size").i, st = expect(stride.items[d], Node::Int, "a tensor stride").i;
      if (sz < 0) fail("a tensor size is negative");
      if (st < 0) fail("a tensor stride is negative");
      numel *= sz;
      if (numel > static_cast<__int128>(limits_.maxTensorElements)) fail("a tensor of more than " + std::to_string(limits_.maxTensorElements) + " elements");
      if (sz > 0) last += static_cast<__int128>(sz - 1) * st;
    }
    if (numel > 0 && last >= storage.i) {
      fail("a tensor reaches element " + std::to_string(static_cast<long long>(std::min<__int128>(last, INT64_MAX))) + " of storage '" + storage.s +
           "', which holds " + std::to_string(storage.i));
    }
  }

  // BUILD and REDUCE: libtorch calls the global below the argument with it.
  void call(const char* op) {
    needItems(2, op);
    uint32_t args = pop(), callee = pop();
    const Node& g = expect(callee, Node::Global, std::string(op) + "'s callable");
    const std::string& name = g.s;
    uint32_t depth = node(args).depth + 1;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_qtensor") {
      checkTensor(expect(args, Node::Tuple, name + "'s arguments"), name.back() == 'r');
      push(Node{Node::Tensor, depth});
    } else if (name == "torch._utils._rebuild_sparse_tensor") {
      expect(args, Node::Tuple, name + "'s arguments");
      push(Node{Node::Tensor, depth});
    } else if (name.rfind("torch.jit._pickle.build_", 0) == 0 && name != "torch.jit._pickle.build_tensor_from_id") {
      const Node& a = expect(args, Node::Tuple, name + "'s arguments");
      if (a.items.empty()) fail(name + " without a list");
      expect(a.items[0], Node::List, name + "'s argument");
      push(a.items[0]);
    } else if (name == "torch.jit._pickle.restore_type_tag") {
      const Node& a = expect(args, Node::Tuple, name + "'s arguments");
      if (a.items.size() != 2) fail(name + " takes 2 arguments");
      expect(a.items[1], Node::Str, name + "'s type");
      push(a.items[0]);
    } else if (name == "torch.jit._pickle.build_tensor_from_id" || name == "torch.device" || name == "builtins.complex" ||
               name == "__main__.TensorID" || name == "__main__.IntList") {
      const Node& a = expect(args, Node::Tuple, name + "'s arguments");
      if (a.items.empty()) fail(name + " without arguments");
      push(Node{name == "torch.jit._pickle.build_tensor_from_id" ? Node::Tensor : Node::Other, depth});
    } else if (name == "collections.OrderedDict") {
      push(Node{Node::None});
    } else if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch.distributed.rpc.rref") {
      fail("'" + name + "' is not something torch.jit.save writes");
    } else {
      // A TorchScript class or enum (__torch__....): libtorch makes the object from the state.
      push(Node{Node::Object, depth});
    }
  }

  void persistentLoad() {
    needItems(1, "BINPERSID");
    const Node& id = expect(pop(), Node::Tuple, "BINPERSID's id");
    if (id.items.size() != 5) fail("BINPERSID's id has " + std::to_string(id.items.size()) + " elements (5 expected)");
    if (expect(id.items[0], Node::Str, "BINPERSID's kind").s != "storage") fail("BINPERSID's kind is not 'storage'");
    int64_t elem = expect(id.items[1], Node::ScalarType, "a storage's type").i;
    std::string key = expect(id.items[2], Node::Str, "a storage's key").s;
    const std::string& location = expect(id.items[3], Node::Str, "a storage's device").s;
    if (location.size() > 32) fail("a storage's device name is longer than 32 bytes");
    int64_t numel = expect(id.items[4], Node::Int, "a storage's element count").i;
    if (numel < 0) fail("storage '" + key + "' has a negative element count");
    if (folder_.empty()) fail("a tensor in a pickle that holds no tensors");
    if (numel > 0) {
      const ArchiveRecord* rec = archive_.find(folder_ + key);
      if (!rec) fail("storage '" + key + "' has no record " + folder_ + key);
      __int128 bytes = static_cast<__int128>(numel) * elem;
      if (bytes > static_cast<__int128>(rec->size)) {
        fail("storage '" + key + "' holds " + std::to_string(numel) + " elements of " + std::to_string(elem) + " bytes, but its record " + folder_ + key + " has " +
             std::to_string(rec->size) + " bytes");
      }
    }
    Node s{Node::Storage};
    s.i = numel;
    s.elem = elem;
    s.s = key;
    push(std::move(s));
  }

  void step(uint8_t op) {
    switch (op) {
      case '(':  // MARK
        if (marks_.size() >= limits_.maxNesting) fail("MARKs nested more than " + std::to_string(limits_.maxNesting) + " deep");
        marks_.push_back(stack_.size());
        break;
      case ']': push(Node{Node::List}); break;
      case ')': push(Node{Node::Tuple}); break;
      case '}': push(Node{Node::Dict}); break;
      case 'N': push(Node{Node::None}); break;
      case 0x88: case 0x89: {
        Node n{Node::Bool};
        n.i = op == 0x88;
        push(std::move(n));
        break;
      }
      case 'K': case 'M': case 'J': {
        Node n{Node::Int};
        n.i = op == 'K' ? in_.byte() : op == 'M' ? in_.le<uint16_t>() : static_cast<int32_t>(in_.le<uint32_t>());
        push(std::move(n));
        break;
      }
      case 0x8a: {  // LONG1: libtorch reads only 8-byte ones
        if (uint8_t n = in_.byte(); n != 8) fail("LONG1 of " + std::to_string(n) + " bytes (libtorch reads 8)");
        Node n{Node::Int};
        n.i = static_cast<int64_t>(in_.le<uint64_t>());
        push(std::move(n));
        break;
      }
      case 'G': in_.bytes(8, "BINFLOAT"); push(Node{Node::Float}); break;
      case 'X': {  // BINUNICODE
        uint32_t n = in_.le<uint32_t>();
        if (n > limits_.maxStringBytes) fail("a string of " + std::to_string(n) + " bytes");
        std::string_view s = in_.bytes(n, "BINUNICODE");
        Node v{Node::Str};
        v.s = std::string(s.substr(0, 256));
        push(std::move(v));
        break;
      }
      case 't': {  // TUPLE
        size_t m = popMark("TUPLE");
        std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        push(container(std::move(items), Node::Tuple));
        break;
      }
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        size_t n = op - 0x84;
        needItems(n, op == 0x85 ? "TUPLE1" : op == 0x86 ? "TUPLE2" : "TUPLE3");
        std::vector<uint32_t> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push(container(std::move(items), Node::Tuple));
        break;
      }
      case 'l': {  // LIST
        size_t m = popMark("LIST");
        std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        push(container(std::move(items), Node::List));
        break;
      }
      case 'd': {  // DICT
        size_t m = popMark("DICT");
        if ((stack_.size() - m) % 2) fail("DICT with an odd number of values (a key without its value)");
        std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        push(container(std::move(items), Node::Dict));
        break;
      }
      case 'e': case 'u': {  // APPENDS, SETITEMS: the container sits just below the MARK
        const char* name = op == 'e' ? "APPENDS" : "SETITEMS";
        size_t m = popMark(name);
        if (m == 0 || (marks_.size() && m - 1 < marks_.back())) fail(std::string(name) + " without a container below its MARK");
        uint32_t c = stack_[m - 1];
        expect(c, op == 'e' ? Node::List : Node::Dict, std::string(name) + "'s container");
        if (op == 'u' && (stack_.size() - m) % 2) fail("SETITEMS with an odd number of values (a key without its value)");
        std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        extend(c, items);
        break;
      }
      case 's': {  // SETITEM
        needItems(3, "SETITEM");
        uint32_t value = pop(), key = pop();
        expect(stack_.back(), Node::Dict, "SETITEM's container");
        extend(stack_.back(), {key, value});
        break;
      }
      case 'q': memoPut(in_.byte()); break;
      case 'r': memoPut(in_.le<uint32_t>()); break;
      case 'h': memoGet(in_.byte()); break;
      case 'j': memoGet(in_.le<uint32_t>()); break;
      case 'c': {  // GLOBAL
        std::string module = readLine("module");
        std::string name = readLine("name");
        if (module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0) {
          Node t{Node::ScalarType};
          t.i = storageElementSize(name);
          if (!t.i) fail("unknown storage type torch." + name);
          push(std::move(t));
        } else {
          Node g{Node::Global};
          g.s = module + "." + name;
          push(std::move(g));
        }
        break;
      }
      case 0x81: {  // NEWOBJ: libtorch drops the arguments and keeps the class for BUILD
        needItems(2, "NEWOBJ");
        pop();
        expect(stack_.back(), Node::Global, "NEWOBJ's class");
        break;
      }
      case 'b': call("BUILD"); break;
      case 'R': call("REDUCE"); break;
      case 'Q': persistentLoad(); break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("opcode ") + hex + " is not one that TorchScript's unpickler reads");
      }
    }
  }

  const ArchiveInfo& archive_;
  Reader in_;
  std::string record_, folder_;
  const ValidationLimits& limits_;
  size_t at_ = 0;
  std::vector<Node> nodes_;
  std::vector<uint32_t> stack_, memo_;
  std::vector<size_t> marks_;
  size_t searchBudget_ = 0;
};

bool isIdent(char c) { return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Nesting of a TorchScript source, and the operators it calls ("torch.x(" and "ops.ns.x(").
void scanSource(std::string_view src, const std::string& where, const ValidationLimits& limits, std::map<std::string, std::string>* ops) {
  size_t depth = 0, line = 1, col = 0;
  bool lineStart = true;
  char quote = 0;
  auto fail = [&](const std::string& what) { throw ValidationError(where, line, what); };
  for (size_t i = 0; i < src.size(); ++i) {
    char c = src[i];
    if (c == '\n') {
      ++line;
      lineStart = true;
      col = 0;
      if (quote) quote = 0;  // TorchScript prints no multi-line string literals
      continue;
    }
    if (lineStart) {
      if (c == ' ' || c == '\t') {
        if (++col > limits.maxSourceIndent) fail("a line indented more than " + std::to_string(limits.maxSourceIndent) + " columns");
        continue;
      }
      lineStart = false;
    }
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '#') {
      while (i + 1 < src.size() && src[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') {
      if (++depth > limits.maxSourceNesting) fail("brackets nested more than " + std::to_string(limits.maxSourceNesting) + " deep");
    } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (ops && (i == 0 || (!isIdent(src[i - 1]) && src[i - 1] != '.'))) {
      // torch.NAME( -> aten::NAME; ops.NS.NAME( -> NS::NAME
      auto word = [&](size_t from, size_t& end) {
        end = from;
        while (end < src.size() && isIdent(src[end])) ++end;
        return std::string(src.substr(from, end - from));
      };
      size_t end = 0;
      std::string ns, name;
      if (src.compare(i, 6, "torch.") == 0) {
        ns = "aten";
        name = word(i + 6, end);
      } else if (src.compare(i, 4, "ops.") == 0) {
        ns = word(i + 4, end);
        if (end < src.size() && src[end] == '.') name = word(end + 1, end);
      }
      if (!ns.empty() && !name.empty() && end < src.size() && src[end] == '(') ops->emplace(ns + "::" + name, where + ":" + std::to_string(line));
    }
  }
}

// Class bodies of the generated code hold what torch.jit.save writes there, and nothing else.
// From PythonPrintImpl::printClass / printNamedType (torch/csrc/jit/serialization/
// python_print.cpp, the same forms in 1.13 and 2.x):
//  - a module: __parameters__ = [...], __buffers__ = [...], and when it has scripted hooks
//    __forward_pre_hooks__ = [...] and __forward_hooks__ = [...];
//  - attributes: `name : T`, or for a name that is not an identifier (ParameterList,
//    ModuleList, ...) `__annotations__["0"] = T`, the first of those preceded by
//    `__annotations__ = []` when it is the class's first attribute;
//  - constants: `name : Final[T] = value`; NamedTuple fields: `name : T`;
//  - methods and hooks (`def`), an interface's `def ...:` with its `pass`;
//  - an Enum's `NAME = value`.
// libtorch 1.13's importer (import_source.cpp) crashes on other class-level statements.
void checkClassBodies(std::string_view src, const std::string& where) {
  struct Scope {
    size_t indent;
    long body = -1;
    bool isEnum;
  };
  auto isModuleList = [](std::string_view name) {
    return name == "__parameters__" || name == "__buffers__" || name == "__forward_pre_hooks__" || name == "__forward_hooks__";
  };
  std::vector<Scope> scopes;
  size_t line = 0;
  for (size_t at = 0; at <= src.size();) {
    size_t end = src.find('\n', at);
    if (end == std::string_view::npos) end = src.size();
    std::string_view l = src.substr(at, end - at);
    ++line;
    at = end + 1;
    size_t indent = l.find_first_not_of(' ');
    if (indent == std::string_view::npos || l[indent] == '#') continue;
    std::string_view t = l.substr(indent);
    while (!scopes.empty() && indent <= scopes.back().indent) scopes.pop_back();
    if (!scopes.empty() && scopes.back().body < 0) scopes.back().body = static_cast<long>(indent);
    if (!scopes.empty() && static_cast<long>(indent) == scopes.back().body) {
      size_t word = 0;
      while (word < t.size() && isIdent(t[word])) ++word;
      size_t after = t.find_first_not_of(' ', word);
      char next = after == std::string_view::npos ? '\0' : t[after];
      std::string_view name = t.substr(0, word);
      std::string_view rest = after == std::string_view::npos ? std::string_view() : t.substr(after);
      while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\r')) rest.remove_suffix(1);
      bool ok = t.rfind("def ", 0) == 0 || t.rfind("class ", 0) == 0 || t[0] == '@' || t == "pass" || t == "..." ||
                (word > 0 && next == ':') ||
                (isModuleList(name) && next == '=') ||
                (name == "__annotations__" && (next == '[' || rest == "= []")) ||
                (scopes.back().isEnum && word > 0 && next == '=');
      if (!ok) throw ValidationError(where, line, "a class-level statement that torch.jit.save does not write: " + std::string(t.substr(0, 60)));
    }
    if (t.rfind("class ", 0) == 0) scopes.push_back({indent, -1, t.find("(Enum)") != std::string_view::npos});
  }
}

}  // namespace

ArchiveInfo readArchive(const char* data, size_t size, const ValidationLimits& limits) { return readTorchScriptZip(data, size, limits); }

ArchiveInfo readPackage(const char* data, size_t size, const ValidationLimits& limits) {
  ArchiveInfo info = readZip(data, size, limits);
  // The loader extracts every record under a temporary folder: a name that climbs out of it,
  // or is absolute, would write elsewhere. torch.export's writer makes plain relative names.
  for (const auto& r : info.records) {
    std::string_view n = r.name;
    if (n.empty() || n.front() == '/' || n.find('\\') != std::string_view::npos || n.find('\0') != std::string_view::npos) {
      zipFail(r.offset, "record '" + info.prefix + r.name + "' has a name no package writer makes");
    }
    size_t start = 0;
    while (start <= n.size()) {
      size_t end = n.find('/', start);
      if (end == std::string_view::npos) end = n.size();
      std::string_view part = n.substr(start, end - start);
      if (part == ".." || part == "." || (part.empty() && end != n.size())) {
        zipFail(r.offset, "record '" + info.prefix + r.name + "' names a path outside the package's folder");
      }
      start = end + 1;
    }
  }
  const ArchiveRecord* format = info.find("archive_format");
  if (!format) zipFail(size, "no archive_format record: not a PT2 package (torch._inductor.aoti_compile_and_package writes one)");
  if (format->deflated || format->size != 3 || std::string_view(data + format->offset, 3) != "pt2") {
    zipFail(format->offset, "archive_format is not 'pt2': not a PT2 package");
  }
  return info;
}

void validateSource(std::string_view source, const std::string& where, const ValidationLimits& limits) {
  scanSource(source, where, limits, nullptr);
}

ArchiveInfo validateArchive(const char* data, size_t size, Inflate inflate, const ValidationLimits& limits) {
  ArchiveInfo info = readTorchScriptZip(data, size, limits);
  std::map<std::string, std::string> ops;
  std::string inflated;
  // A record's bytes, inflated when deflated; empty view when it cannot be inflated here.
  auto contents = [&](const ArchiveRecord& rec, bool& available) -> std::string_view {
    available = true;
    if (!rec.deflated) return std::string_view(data + rec.offset, rec.size);
    if (!inflate) {
      available = false;
      return {};
    }
    inflated.assign(rec.size, '\0');
    size_t n = inflate(inflated.data(), inflated.size(), data + rec.offset, rec.stored);
    if (n != rec.size) throw ValidationError(rec.name, 0, "the deflated data does not inflate to its " + std::to_string(rec.size) + " bytes");
    return inflated;
  };
  for (const auto& rec : info.records) {
    const std::string n = lower(rec.name);
    bool pickle = n == "data.pkl" || n == "constants.pkl";
    bool debug = n.size() > 10 && n.compare(n.size() - 10, 10, ".debug_pkl") == 0;
    bool source = n.rfind("code/", 0) == 0 && n.size() > 3 && n.compare(n.size() - 3, 3, ".py") == 0;
    if (!pickle && !debug && !source) continue;
    bool available = false;
    std::string_view bytes = contents(rec, available);
    if (!available) continue;
    // Tensors of data.pkl live in data/, those of constants.pkl in constants/.
    if (pickle) Pickle(info, rec.name, bytes, n.substr(0, n.size() - 4) + "/", limits).run();
    else if (debug) Pickle(info, rec.name, bytes, "", limits).run();
    else {
      scanSource(bytes, rec.name, limits, &ops);
      checkClassBodies(bytes, rec.name);
    }
  }
  info.calledOps.assign(ops.begin(), ops.end());
  return info;
}

}  // namespace torchloop
