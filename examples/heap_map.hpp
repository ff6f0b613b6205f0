// heap_map.hpp: an allocator's occupancy walk (swim/mem/physical/region.hpp) drawn
// as a PNG image, with no library beyond the C++ standard one. Host only.
//
//   heap_map::Map map = heap_map::Map::of(arena);          // the walk, now
//   heap_map::write_png("arena.png", map, {.title = "after"});
//
// The picture: each range of the walk starts a new band of rows; a row is `width`
// pixels of `bytes_per_pixel` bytes each, in address order, and a pixel takes the
// colour of the kind that covers most of its bytes (live red, free green, control
// blue, unused grey), darker where a region of two pixels or more starts, so that
// neighbouring blocks of one kind stay apart. A title above and a legend strip
// below (each kind's bytes) are drawn with a small built-in font.
//
// The PNG writer is complete and small: 8-bit indexed colour, one IDAT chunk whose
// zlib stream is compressed with deflate's fixed Huffman codes and a greedy LZ77
// search (runs of one colour and rows repeating the row above cost a few bits),
// CRC-32 per chunk and Adler-32 over the image data.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <swim/mem.hpp>

namespace heap_map {

using swim::mem::Region;
using swim::mem::RegionKind;

// ---- The map ------------------------------------------------------------------------------

/// An allocator's walk, kept: its regions in walk order.
struct Map {
  std::vector<Region> regions;

  /// Walk `a` now (the walk's rule applies: nothing may allocate or free meanwhile).
  template <class A>
  static Map of(const A& a) {
    Map m;
    a.walk([&](const Region& r) { m.regions.push_back(r); });
    return m;
  }

  /// Bytes of each kind (indexed by RegionKind).
  std::array<std::size_t, swim::mem::region_kind_count> bytes_by_kind() const {
    std::array<std::size_t, swim::mem::region_kind_count> out{};
    for (const Region& r : regions) out[static_cast<unsigned>(r.kind)] += r.size;
    return out;
  }
};

/// How a map is drawn.
struct Style {
  unsigned width = 512;             ///< pixels per row of the map
  std::size_t bytes_per_pixel = 0;  ///< 0: the smallest power of two that keeps it under max_rows
  unsigned max_rows = 96;           ///< (for bytes_per_pixel = 0) map rows at most
  unsigned row_height = 3;          ///< image pixels per map row
  std::string title;                ///< drawn above the map (letters, digits, a few signs)
};

// ---- Pixels -------------------------------------------------------------------------------

/// An image of palette indices.
struct Canvas {
  unsigned width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // row by row

  Canvas(unsigned w, unsigned h, std::uint8_t fill) : width(w), height(h), pixels(std::size_t(w) * h, fill) {}
  void fill_rect(unsigned x, unsigned y, unsigned w, unsigned h, std::uint8_t c) {
    for (unsigned j = y; j < y + h && j < height; ++j) {
      for (unsigned i = x; i < x + w && i < width; ++i) pixels[std::size_t(j) * width + i] = c;
    }
  }
};

/// The palette: background, the four kinds (in RegionKind order), text, frame, and
/// the four kinds darker (the first pixel of a region, so that neighbours of one
/// kind stay apart).
enum Colour : std::uint8_t { background = 0, kind_first = 1, text = 5, frame = 6, edge_first = 7 };
inline constexpr std::array<std::array<std::uint8_t, 3>, 11> palette = {{
    {255, 255, 255},  // background
    {214, 69, 65},    // live
    {76, 175, 80},    // free
    {33, 120, 200},   // control
    {190, 190, 190},  // unused
    {20, 20, 20},     // text
    {120, 120, 120},  // frame
    {130, 30, 28},    // live, a region's first pixel
    {36, 110, 40},    // free, a region's first pixel
    {15, 65, 120},    // control, a region's first pixel
    {120, 120, 120},  // unused, a region's first pixel
}};

inline std::uint8_t colour_of(RegionKind k) { return static_cast<std::uint8_t>(kind_first + static_cast<unsigned>(k)); }
inline std::uint8_t edge_colour_of(RegionKind k) {
  return static_cast<std::uint8_t>(edge_first + static_cast<unsigned>(k));
}

// A 5x7 font: each glyph is 7 rows of 5 bits (bit 4 the leftmost column).
struct Glyph {
  char c;
  std::uint8_t rows[7];
};
inline constexpr Glyph font[] = {
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}}, {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}}, {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
};
inline constexpr unsigned glyph_advance = 6;  // 5 columns and a space

/// Draw `s` (upper-cased; characters the font lacks are blanks) with its top-left at
/// (x, y); returns the x after it.
inline unsigned draw_text(Canvas& c, unsigned x, unsigned y, const std::string& s, std::uint8_t colour) {
  for (char ch : s) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    for (const Glyph& g : font) {
      if (g.c != ch) continue;
      for (unsigned row = 0; row < 7; ++row) {
        for (unsigned col = 0; col < 5; ++col) {
          if ((g.rows[row] >> (4 - col)) & 1u) c.fill_rect(x + col, y + row, 1, 1, colour);
        }
      }
      break;
    }
    x += glyph_advance;
  }
  return x;
}

/// "256 B", "4 KIB", "1.5 MIB": a byte count for a label.
inline std::string bytes_text(std::size_t n) {
  char buf[32];
  if (n < 1024) {
    std::snprintf(buf, sizeof buf, "%zu B", n);
  } else if (n < (std::size_t(1) << 20)) {
    std::snprintf(buf, sizeof buf, "%.4g KIB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g MIB", static_cast<double>(n) / (1024.0 * 1024));
  }
  return buf;
}

/// The map drawn on a canvas (see the file comment).
inline Canvas draw(const Map& map, const Style& style) {
  // Ranges: runs of regions with one base; each starts a band of rows.
  struct Range {
    std::size_t first, last;  // regions [first, last)
    std::size_t bytes;
  };
  std::vector<Range> ranges;
  for (std::size_t i = 0; i < map.regions.size(); ++i) {
    if (i == 0 || map.regions[i].base != map.regions[i - 1].base) ranges.push_back(Range{i, i, 0});
    ranges.back().last = i + 1;
    ranges.back().bytes += map.regions[i].size;
  }
  const unsigned width = style.width == 0 ? 512 : style.width;
  auto rows_for = [&](std::size_t bpp) {
    std::size_t rows = 0;
    for (const Range& r : ranges) rows += (r.bytes + bpp * width - 1) / (bpp * width);
    return rows;
  };
  std::size_t bpp = style.bytes_per_pixel;
  if (bpp == 0) {
    bpp = 1;
    while (rows_for(bpp) > style.max_rows && bpp < (std::size_t(1) << 40)) bpp *= 2;
  }
  const unsigned rh = style.row_height == 0 ? 1 : style.row_height;
  const unsigned margin = 8, gap = 4, line = 10;
  const unsigned map_rows = static_cast<unsigned>(rows_for(bpp));
  const unsigned map_top = margin + line + gap;
  const unsigned map_height =
      map_rows * rh + (ranges.empty() ? 0 : static_cast<unsigned>(ranges.size() - 1) * gap);
  const unsigned legend_top = map_top + map_height + gap + 2;
  Canvas c(width + 2 * margin, legend_top + 2 * line + margin, background);

  // Title, and the scale.
  const unsigned after_title = draw_text(c, margin, margin, style.title, text);
  draw_text(c, after_title + (style.title.empty() ? 0 : 2 * glyph_advance), margin,
            "1 PX = " + bytes_text(bpp), text);

  // The map: per pixel, the bytes of each kind that fall in it.
  unsigned y = map_top;
  for (const Range& r : ranges) {
    const std::size_t pixels = (r.bytes + bpp - 1) / bpp;
    std::vector<std::array<std::size_t, swim::mem::region_kind_count>> cover(pixels);
    std::vector<std::uint8_t> starts(pixels);  // kinds (bits) of regions of 2 pixels or more starting here
    for (std::size_t i = r.first; i < r.last; ++i) {
      const Region& g = map.regions[i];
      const unsigned k = static_cast<unsigned>(g.kind);
      if (g.size >= 2 * bpp) starts[g.offset / bpp] |= static_cast<std::uint8_t>(1u << k);
      std::size_t at = g.offset;
      const std::size_t end = g.offset + g.size;
      while (at < end) {
        const std::size_t px = at / bpp;
        const std::size_t px_end = std::min(end, (px + 1) * bpp);
        cover[px][k] += px_end - at;
        at = px_end;
      }
    }
    const unsigned rows = static_cast<unsigned>((pixels + width - 1) / width);
    for (std::size_t px = 0; px < pixels; ++px) {
      const auto& w = cover[px];
      const auto best = std::max_element(w.begin(), w.end()) - w.begin();
      const unsigned x = margin + static_cast<unsigned>(px % width);
      const unsigned row = static_cast<unsigned>(px / width);
      const auto kind = static_cast<RegionKind>(best);
      const bool edge = ((starts[px] >> best) & 1u) != 0;
      c.fill_rect(x, y + row * rh, 1, rh, edge ? edge_colour_of(kind) : colour_of(kind));
    }
    y += rows * rh + gap;
  }
  // A frame line under the map, then the legend: a swatch and the kind's name and
  // bytes for each kind.
  c.fill_rect(margin, legend_top - 3, width, 1, frame);
  const auto bytes = map.bytes_by_kind();
  unsigned x = margin;
  for (unsigned k = 0; k < swim::mem::region_kind_count; ++k) {
    const auto kind = static_cast<RegionKind>(k);
    c.fill_rect(x, legend_top, 9, 9, colour_of(kind));
    x = draw_text(c, x + 13, legend_top + 1, swim::mem::to_string(kind), text);
    x = draw_text(c, x + glyph_advance, legend_top + 1, bytes_text(bytes[k]), text);
    x += 3 * glyph_advance;
  }
  return c;
}

// ---- PNG ------------------------------------------------------------------------------------

/// CRC-32 (the polynomial of PNG and zlib, reflected: 0xEDB88320), continued from `crc`.
inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t v = i;
      for (int b = 0; b < 8; ++b) v = (v & 1u) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
      t[i] = v;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

/// Adler-32 (zlib's trailer).
inline std::uint32_t adler32(const std::uint8_t* p, std::size_t n) {
  std::uint32_t a = 1, b = 0;
  for (std::size_t i = 0; i < n; ++i) {
    a = (a + p[i]) % 65521u;
    b = (b + a) % 65521u;
  }
  return (b << 16) | a;
}

/// Bits out, least significant first within each byte (deflate's order).
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  /// `count` bits of `value`, lowest first (extra bits, block headers).
  void bits(std::uint32_t value, unsigned count) {
    for (unsigned i = 0; i < count; ++i) bit((value >> i) & 1u);
  }
  /// A Huffman code of `length` bits, its most significant bit first.
  void code(std::uint32_t value, unsigned length) {
    for (unsigned i = length; i-- > 0;) bit((value >> i) & 1u);
  }
  void flush() {
    if (used_ != 0) out_.push_back(acc_);
    acc_ = 0;
    used_ = 0;
  }

 private:
  void bit(std::uint32_t b) {
    acc_ = static_cast<std::uint8_t>(acc_ | (b << used_));
    if (++used_ == 8) flush();
  }
  std::vector<std::uint8_t>& out_;
  std::uint8_t acc_ = 0;
  unsigned used_ = 0;
};

/// Deflate with the fixed Huffman codes (one final block) and a greedy LZ77 match
/// search over a 32 KiB window (hash chains of 3-byte prefixes, 64 steps at most).
inline void deflate_fixed(const std::vector<std::uint8_t>& in, std::vector<std::uint8_t>& out) {
  static constexpr std::uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static constexpr std::uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static constexpr std::uint16_t dist_base[30] = {1,   2,   3,    4,    5,    7,    9,    13,    17,    25,
                                                  33,  49,  65,   97,   129,  193,  257,  385,   513,   769,
                                                  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static constexpr std::uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                                  6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  constexpr std::size_t window = 32768, max_len = 258, min_len = 3;
  constexpr unsigned hash_bits = 15, max_chain = 64;

  BitWriter w(out);
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // BTYPE = 01: fixed codes
  auto literal = [&](unsigned v) {  // a literal/length symbol's fixed code
    if (v < 144) {
      w.code(0x30 + v, 8);
    } else if (v < 256) {
      w.code(0x190 + (v - 144), 9);
    } else if (v < 280) {
      w.code(v - 256, 7);
    } else {
      w.code(0xC0 + (v - 280), 8);
    }
  };
  std::vector<std::int64_t> head(std::size_t(1) << hash_bits, -1);
  std::vector<std::int64_t> prev(in.size(), -1);
  auto hash = [&](std::size_t i) {
    const std::uint32_t v = std::uint32_t(in[i]) << 16 | std::uint32_t(in[i + 1]) << 8 | in[i + 2];
    return (v * 2654435761u) >> (32 - hash_bits);
  };
  auto insert = [&](std::size_t i) {
    if (i + min_len > in.size()) return;
    const auto h = hash(i);
    prev[i] = head[h];
    head[h] = static_cast<std::int64_t>(i);
  };
  std::size_t i = 0;
  while (i < in.size()) {
    std::size_t best_len = 0, best_dist = 0;
    if (i + min_len <= in.size()) {
      std::int64_t cand = head[hash(i)];
      for (unsigned step = 0; cand >= 0 && step < max_chain; ++step, cand = prev[static_cast<std::size_t>(cand)]) {
        const auto j = static_cast<std::size_t>(cand);
        if (i - j > window) break;
        std::size_t n = 0;
        const std::size_t limit = std::min(max_len, in.size() - i);
        while (n < limit && in[j + n] == in[i + n]) ++n;
        if (n > best_len) {
          best_len = n;
          best_dist = i - j;
          if (n == limit) break;
        }
      }
    }
    if (best_len < min_len) {
      literal(in[i]);
      insert(i);
      ++i;
      continue;
    }
    unsigned lc = 0;
    while (lc + 1 < 29 && len_base[lc + 1] <= best_len) ++lc;
    literal(257 + lc);
    w.bits(static_cast<std::uint32_t>(best_len - len_base[lc]), len_extra[lc]);
    unsigned dc = 0;
    while (dc + 1 < 30 && dist_base[dc + 1] <= best_dist) ++dc;
    w.code(dc, 5);
    w.bits(static_cast<std::uint32_t>(best_dist - dist_base[dc]), dist_extra[dc]);
    for (std::size_t k = 0; k < best_len; ++k) insert(i + k);
    i += best_len;
  }
  literal(256);  // end of block
  w.flush();
}

/// A PNG file of `c` (8-bit palette indices into `palette`).
inline std::vector<std::uint8_t> encode_png(const Canvas& c) {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto be32 = [](std::vector<std::uint8_t>& v, std::uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
  };
  auto chunk = [&](const char* type, const std::vector<std::uint8_t>& data) {
    be32(out, static_cast<std::uint32_t>(data.size()));
    std::vector<std::uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    be32(out, crc32(body.data(), body.size()));
  };
  std::vector<std::uint8_t> ihdr;
  be32(ihdr, c.width);
  be32(ihdr, c.height);
  ihdr.insert(ihdr.end(), {8, 3, 0, 0, 0});  // 8 bits, indexed colour, deflate, no filter set, no interlace
  chunk("IHDR", ihdr);
  std::vector<std::uint8_t> plte;
  for (const auto& rgb : palette) plte.insert(plte.end(), rgb.begin(), rgb.end());
  chunk("PLTE", plte);
  // Each row: filter type 0 (none), then its indices.
  std::vector<std::uint8_t> raw;
  raw.reserve((std::size_t(c.width) + 1) * c.height);
  for (unsigned y = 0; y < c.height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), c.pixels.begin() + static_cast<long>(std::size_t(y) * c.width),
               c.pixels.begin() + static_cast<long>(std::size_t(y + 1) * c.width));
  }
  std::vector<std::uint8_t> z = {0x78, 0x01};  // zlib: deflate, 32 KiB window, no dictionary
  deflate_fixed(raw, z);
  be32(z, adler32(raw.data(), raw.size()));
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

/// Draw `map` and write it to `path` as a PNG; false when the file cannot be written.
inline bool write_png(const std::string& path, const Map& map, const Style& style = {}) {
  const std::vector<std::uint8_t> png = encode_png(draw(map, style));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(png.data(), 1, png.size(), f) == png.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace heap_map
