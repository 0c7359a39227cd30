// The serialization customization point (include/shoal/detail/codec.hpp): every supported kind of
// value survives encode_value/decode_value, contiguous buffers travel as their own bytes, and
// reading a value as another type is a TypeMismatchError that names both types.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/copy_destination.hpp>
#include <shoal/errors.hpp>

namespace shoal::detail {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

// Records what an encoder wrote, as the library's sinks would before sending it.
class RecordingSink final : public ValueSink {
 public:
  char* reserve_raw(std::uint64_t type_hash, std::size_t size) override {
    ++calls;
    format = Format::kRaw;
    hash = type_hash;
    bytes.assign(size, '\0');
    return bytes.data();
  }
  ByteBuffer& begin_msgpack(std::uint64_t type_hash) override {
    ++calls;
    format = Format::kMsgpack;
    hash = type_hash;
    buffer.clear();
    return buffer;
  }
  void finish() override {
    ++finished;
    if (format == Format::kMsgpack) bytes.assign(buffer.data(), buffer.size());
  }

  ValueView view() const { return ValueView{format, hash, bytes.data(), bytes.size()}; }

  Format format = Format::kVoid;
  std::uint64_t hash = 0;
  std::string bytes;
  ByteBuffer buffer;
  int calls = 0;
  int finished = 0;
};

template <class T>
T round_trip(const T& value, Format expected_format) {
  RecordingSink sink;
  encode_value(sink, value);
  EXPECT_EQ(sink.format, expected_format);
  EXPECT_EQ(sink.hash, type_hash<T>());
  EXPECT_EQ(sink.calls, 1);
  EXPECT_EQ(sink.finished, 1);
  return decode_value<T>(sink.view());
}

template <class T>
RecordingSink encoded(const T& value) {
  RecordingSink sink;
  encode_value(sink, value);
  return sink;
}

struct Particle {
  std::string name;
  std::vector<double> position;
  std::optional<int> charge;
  std::map<std::string, int> tags;
  MSGPACK_DEFINE(name, position, charge, tags)

  friend bool operator==(const Particle& a, const Particle& b) {
    return a.name == b.name && a.position == b.position && a.charge == b.charge && a.tags == b.tags;
  }
};

struct Pixel {  // trivially copyable: a vector of these travels raw
  std::uint8_t r, g, b;
  float depth;
};

TEST(Codec, IntRoundTrips) {
  for (int v : {0, 1, -1, 127, 128, -32769, std::numeric_limits<int>::max(),
                std::numeric_limits<int>::min()}) {
    EXPECT_EQ(round_trip(v, Format::kRaw), v);
  }
  EXPECT_EQ(round_trip(std::uint64_t{0xFFFFFFFFFFFFFFFFull}, Format::kRaw), 0xFFFFFFFFFFFFFFFFull);
}

TEST(Codec, DoubleRoundTripsBitForBit) {
  for (double v : {0.0, 3.141592653589793, -1e308, 4.9e-324, -2.0, 1e19,
                   std::numeric_limits<double>::infinity()}) {
    const double got = round_trip(v, Format::kRaw);
    EXPECT_EQ(std::memcmp(&got, &v, sizeof v), 0) << v;
  }
  EXPECT_TRUE(std::isnan(round_trip(std::nan(""), Format::kRaw)));
}

TEST(Codec, NumbersTravelAsTheirOwnBytesExactly) {
  // msgpack-c packs an integral double as an integer, which would turn -0.0 into 0; a number is
  // sent as its own bytes instead.
  const double got = round_trip(-0.0, Format::kRaw);
  EXPECT_TRUE(std::signbit(got)) << "-0.0 came back as " << got;
  EXPECT_EQ(round_trip(std::numeric_limits<std::int64_t>::min(), Format::kRaw),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(std::isnan(round_trip(std::nan(""), Format::kRaw)));
  EXPECT_EQ(round_trip(true, Format::kRaw), true);
}

TEST(Codec, StringTravelsAsItsOwnBytes) {
  const std::string s("binary\0data\xff", 12);
  const RecordingSink sink = encoded(s);
  EXPECT_EQ(sink.format, Format::kRaw);
  EXPECT_EQ(sink.bytes, s);  // no length prefix, no encoding
  EXPECT_EQ(decode_value<std::string>(sink.view()), s);
  EXPECT_EQ(round_trip(std::string(), Format::kRaw), "");
  const std::string big(100000, 'q');
  EXPECT_EQ(round_trip(big, Format::kRaw), big);
}

TEST(Codec, VectorOfIntTravelsAsItsOwnBytes) {
  const std::vector<int> v = {1, -2, 3, 1 << 30, -(1 << 30)};
  const RecordingSink sink = encoded(v);
  EXPECT_EQ(sink.format, Format::kRaw);
  ASSERT_EQ(sink.bytes.size(), v.size() * sizeof(int));
  EXPECT_EQ(std::memcmp(sink.bytes.data(), v.data(), sink.bytes.size()), 0);
  EXPECT_EQ(decode_value<std::vector<int>>(sink.view()), v);
  EXPECT_EQ(round_trip(std::vector<int>{}, Format::kRaw), std::vector<int>{});
}

TEST(Codec, VectorOfTrivialStructTravelsRaw) {
  const std::vector<Pixel> v = {{1, 2, 3, 0.5f}, {255, 0, 128, -1.0f}};
  const std::vector<Pixel> got = round_trip(v, Format::kRaw);
  ASSERT_EQ(got.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(std::memcmp(&got[i], &v[i], sizeof(Pixel)), 0) << i;
  }
}

TEST(Codec, VectorOfBoolUsesMsgpack) {
  // std::vector<bool> is packed bits, not contiguous bools: it must not take the raw path.
  const std::vector<bool> v = {true, false, false, true, true, false, true, false, true};
  EXPECT_EQ(round_trip(v, Format::kMsgpack), v);
}

TEST(Codec, VectorOfStringUsesMsgpack) {
  const std::vector<std::string> v = {"", "a", std::string(300, 'x'), std::string("n\0l", 3)};
  EXPECT_EQ(round_trip(v, Format::kMsgpack), v);
}

TEST(Codec, MapRoundTrips) {
  const std::map<std::string, int> m = {{"one", 1}, {"two", 2}, {"", -7}};
  EXPECT_EQ(round_trip(m, Format::kMsgpack), m);
}

TEST(Codec, OptionalRoundTrips) {
  EXPECT_EQ(round_trip(std::optional<int>(42), Format::kMsgpack), std::optional<int>(42));
  EXPECT_EQ(round_trip(std::optional<int>(), Format::kMsgpack), std::nullopt);
}

TEST(Codec, PairAndTupleRoundTrip) {
  const std::pair<int, std::string> p{7, "seven"};
  EXPECT_EQ(round_trip(p, Format::kMsgpack), p);
  const std::tuple<int, double, std::string, std::vector<int>> t{-1, 2.5, "three", {4, 5}};
  EXPECT_EQ(round_trip(t, Format::kMsgpack), t);
}

TEST(Codec, UserStructWithMsgpackDefineRoundTrips) {
  const Particle p{"electron", {0.1, -2.5, 3e8}, -1, {{"lepton", 1}, {"stable", 1}}};
  EXPECT_EQ(round_trip(p, Format::kMsgpack), p);
  const Particle empty{};
  EXPECT_EQ(round_trip(empty, Format::kMsgpack), empty);
}

TEST(Codec, DifferentTypesHaveDifferentHashes) {
  EXPECT_NE(type_hash<int>(), type_hash<long>());
  EXPECT_NE(type_hash<int>(), type_hash<unsigned>());
  EXPECT_NE(type_hash<std::vector<int>>(), type_hash<std::vector<float>>());
  EXPECT_NE(type_hash<std::string>(), type_hash<std::vector<char>>());
  EXPECT_EQ(type_hash<Particle>(), type_hash<Particle>());
}

TEST(Codec, WrongTypeThrowsTypeMismatchNamingBothTypes) {
  const RecordingSink sink = encoded(42);
  try {
    decode_value<std::string>(sink.view());
    FAIL() << "decoding an int as a std::string did not throw";
  } catch (const TypeMismatchError& e) {
    EXPECT_THAT(e.what(), HasSubstr("std::string"));
    EXPECT_THAT(e.what(), ContainsRegex("\\bint\\b"));
  }
}

TEST(Codec, WrongTypeMessageNamesTheStoredType) {
  const RecordingSink sink = encoded(std::string("text"));
  try {
    decode_value<std::map<std::string, int>>(sink.view());
    FAIL() << "decoding a std::string as a map did not throw";
  } catch (const TypeMismatchError& e) {
    EXPECT_THAT(e.what(), HasSubstr("std::map"));
    EXPECT_THAT(e.what(), HasSubstr("std::string"));
  }
}

TEST(Codec, RawVectorOfAnotherElementTypeIsAMismatch) {
  // Same format and a size that would divide evenly: only the type hash tells them apart.
  const RecordingSink sink = encoded(std::vector<int>{1, 2, 3, 4});
  EXPECT_THROW(decode_value<std::vector<float>>(sink.view()), TypeMismatchError);
  EXPECT_THROW(decode_value<std::string>(sink.view()), TypeMismatchError);
}

TEST(Codec, SameTypeInTheWrongFormatIsAMismatch) {
  const RecordingSink sink = encoded(std::vector<int>{1, 2});
  ValueView v = sink.view();
  v.format = Format::kMsgpack;
  EXPECT_THROW(decode_value<std::vector<int>>(v), TypeMismatchError);
}

TEST(Codec, RawVectorOfOddSizeThrowsTypeMismatch) {
  const char bytes[5] = {1, 2, 3, 4, 5};
  const ValueView v{Format::kRaw, type_hash<std::vector<int>>(), bytes, sizeof bytes};
  EXPECT_THROW(decode_value<std::vector<int>>(v), TypeMismatchError);
}

TEST(Codec, MsgpackOfAnotherShapeThrowsTypeMismatch) {
  // The hash says int but the bytes hold a msgpack string (a corrupt or forged value).
  const RecordingSink sink = encoded(std::vector<std::string>{"not", "an", "int"});
  ValueView v = sink.view();
  v.type_hash = type_hash<int>();
  EXPECT_THROW(decode_value<int>(v), TypeMismatchError);
  v.type_hash = type_hash<std::map<std::string, int>>();
  EXPECT_THROW((decode_value<std::map<std::string, int>>(v)), TypeMismatchError);
}

TEST(Codec, BytesThatAreNotMsgpackThrowTypeMismatch) {
  const char reserved[] = {static_cast<char>(0xC1)};  // never valid in msgpack
  EXPECT_THROW(decode_value<int>(ValueView{Format::kMsgpack, type_hash<int>(), reserved, 1}),
               TypeMismatchError);
  const char truncated[] = {static_cast<char>(0x93), 0x01};  // an array of 3 with one element
  using Triple = std::tuple<int, int, int>;
  EXPECT_THROW(decode_value<Triple>(ValueView{Format::kMsgpack, type_hash<Triple>(), truncated, 2}),
               TypeMismatchError);
  EXPECT_THROW(decode_value<int>(ValueView{Format::kMsgpack, type_hash<int>(), truncated, 0}),
               TypeMismatchError);
}

// Issue 9: raw vectors decode straight into reserved memory when the source is aligned for the
// element type and through resize() + memcpy when it is not; large ones also get the huge-page
// hint first. Every path must give back exactly the stored bytes, whatever the size and offset.
template <class U>
void expect_decodes_exactly(std::size_t count, std::size_t misalign) {
  const std::size_t bytes = count * sizeof(U);
  // 64-byte aligned like a store object, plus room to shift the source off that alignment.
  std::vector<char> storage(bytes + 128);
  const auto base = reinterpret_cast<std::uintptr_t>(storage.data());
  char* src = storage.data() + ((64 - base % 64) % 64) + misalign;
  for (std::size_t i = 0; i < bytes; ++i) src[i] = static_cast<char>((i * 131 + i / 4099) & 0xFF);
  const ValueView view{Format::kRaw, type_hash<std::vector<U>>(), src, bytes};
  const std::vector<U> got = decode_value<std::vector<U>>(view);
  ASSERT_EQ(got.size(), count) << "misalign " << misalign;
  if (bytes != 0) {
    EXPECT_EQ(std::memcmp(got.data(), src, bytes), 0)
        << count << " elements, misalign " << misalign;
  }
}

TEST(Codec, Issue9RawVectorsDecodeExactlyFromAlignedAndMisalignedBytes) {
  // Above the huge-page threshold and not a multiple of 2 MiB, so it has unaligned edges.
  constexpr std::size_t kLarge = (9u << 20) + 24;
  for (const std::size_t misalign : {0u, 1u, 3u, 8u, 13u}) {
    for (const std::size_t bytes :
         {std::size_t{0}, std::size_t{8}, std::size_t{4096 + 40}, std::size_t{1} << 20, kLarge}) {
      expect_decodes_exactly<std::uint8_t>(bytes, misalign);
      expect_decodes_exactly<double>(bytes / sizeof(double), misalign);
      expect_decodes_exactly<Pixel>(bytes / sizeof(Pixel), misalign);
    }
  }
}

TEST(Codec, Issue9PrepareCopyDestinationLeavesTheBytesAndErrnoAlone) {
  prepare_copy_destination(nullptr, 0);
  prepare_copy_destination(nullptr, 64u << 20);
  for (const std::size_t bytes :
       {std::size_t{100}, std::size_t{4} << 20, (std::size_t{9} << 20) + 5}) {
    std::vector<char> buffer(bytes + 1, 'x');
    errno = 12345;  // not a real errno value: it must come back unchanged
    prepare_copy_destination(buffer.data() + 1, bytes);  // unaligned on purpose
    EXPECT_EQ(errno, 12345);
    EXPECT_EQ(std::count(buffer.begin(), buffer.end(), 'x'),
              static_cast<std::ptrdiff_t>(buffer.size()));
  }
}

}  // namespace
}  // namespace shoal::detail
