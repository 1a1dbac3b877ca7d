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

    /// Now, e.g. `2026-11-24T08:12:56.123Z`.
    func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let second = Int(spec.tv_sec)
        if second != cachedSecond {
            var seconds = time_t(second)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            cachedPrefix = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
            cachedSecond = second
        }
        let millis = Int(spec.tv_nsec) / 1_000_000
        return cachedPrefix + "." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis) + "Z"
    }

    private func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
