// The facts of a saved row that an index keeps (kvc::RowInfo, kvc/row.h): built
// from a parsed file.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "format/kvc_file.h"
#include "kvc/key.h"
#include "kvc/row.h"

namespace kvc::format {

using TokenList = std::shared_ptr<const std::vector<std::uint32_t>>;
using kvc::RowInfo;

// The row a valid file describes (its key recomputed from the TLVs); moves the
// token list out of `meta`.
inline RowInfo row_info_from(KvcMeta&& meta, std::uint64_t file_size) {
  RowInfo r;
  r.key = meta.key();
  r.ns = meta.key_namespace();
  r.size = file_size;
  r.header = meta.header;
  r.tokens = std::make_shared<const std::vector<std::uint32_t>>(std::move(meta.tokens));
  return r;
}

}  // namespace kvc::format
