#ifndef FRUGAL_CZLIB_SHIM_H
#define FRUGAL_CZLIB_SHIM_H
#include <zlib.h>

// zlib's init functions are macros (they pass ZLIB_VERSION and sizeof(z_stream)), which Swift
// cannot import: these wrappers make them callable.
static inline int frugal_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
static inline int frugal_deflateInit2(z_streamp strm, int level, int windowBits) {
    return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
