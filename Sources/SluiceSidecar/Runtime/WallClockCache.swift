#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Formats wall-clock time as RFC 3339 UTC with milliseconds, re-rendering the date part
/// only when the second changes (the access log asks for it on every request).
final class WallClockCache {
    private var cachedSecond: Int = -1
    private var cachedPrefix = ""
    private var prefixBytes: [UInt8] = []

    private func refresh(second: Int) {
        guard second != cachedSecond else { return }
        var seconds = time_t(second)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        cachedPrefix = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        prefixBytes = Array(cachedPrefix.utf8)
        cachedSecond = second
    }

    /// Now, e.g. `2026-11-24T08:12:56.123Z`.
    func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        refresh(second: Int(spec.tv_sec))
        let millis = Int(spec.tv_nsec) / 1_000_000
        return cachedPrefix + "." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis) + "Z"
    }

    private func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// Now, as UTF-8 bytes handed to `body` (no allocation once the second is cached).
    func appendNow(_ body: (UnsafeRawBufferPointer) -> Void) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        refresh(second: Int(spec.tv_sec))
        let millis = Int(spec.tv_nsec) / 1_000_000
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefixBytes.count + 5) { out in
            var index = 0
            for byte in prefixBytes { out[index] = byte; index += 1 }
            out[index] = UInt8(ascii: ".")
            out[index + 1] = UInt8(ascii: "0") + UInt8(millis / 100)
            out[index + 2] = UInt8(ascii: "0") + UInt8(millis / 10 % 10)
            out[index + 3] = UInt8(ascii: "0") + UInt8(millis % 10)
            out[index + 4] = UInt8(ascii: "Z")
            body(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(out)[0..<(index + 5)]))
        }
    }
}
