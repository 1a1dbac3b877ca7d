#if canImport(Glibc)
import Glibc

/// glibc functions that Swift's `Glibc` module does not export (their headers need
/// `_GNU_SOURCE` or are not in the module map), looked up once by name.
enum GlibcExtras {
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    private typealias GetTID = @convention(c) () -> Int32
    private typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// `malloc_trim(pad)`: returns free heap pages to the system; false when nothing was
    /// released or the function is missing.
    @discardableResult
    static func mallocTrim(_ pad: Int = 0) -> Bool {
        guard let trim = symbol("malloc_trim", as: MallocTrim.self) else { return false }
        return trim(pad) != 0
    }

    /// The calling thread's kernel id, or 0.
    static func currentThreadID() -> Int32 {
        symbol("gettid", as: GetTID.self)?() ?? 0
    }

    /// Names the calling thread (the kernel keeps 15 bytes).
    static func nameCurrentThread(_ name: String) {
        guard let setName = symbol("pthread_setname_np", as: SetName.self) else { return }
        let short = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        _ = short.withCString { setName(pthread_self(), $0) }
    }
}
#endif
