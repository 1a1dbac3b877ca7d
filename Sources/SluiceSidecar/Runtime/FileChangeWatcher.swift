#if canImport(Glibc)
import Glibc
#endif
import Atomics
import NIOConcurrencyHelpers

/// Calls back when anything changes in the directories of some files: how the sidecar
/// notices a rotated Secret without polling (a Kubernetes Secret volume swaps a `..data`
/// symlink; an editor truncates and rewrites). Linux inotify on a thread of its own that
/// sleeps in `poll` until the kernel reports a change, so an idle sidecar is not woken.
///
/// `onChange` runs on the watcher's thread, after a short settle delay that folds the
/// burst of events one rotation makes into one call. Where inotify is missing, `start`
/// returns nil and the caller falls back to polling.
final class FileChangeWatcher: Sendable {
    private let descriptor: Int32
    private let wakeup: (read: Int32, write: Int32)
    /// The watched files' own names: events for other files in their directories (an
    /// access log written next to the policy, say) are ignored. Names starting with `..`
    /// (a Kubernetes volume's `..data` swap) always count.
    private let names: Set<String>
    private let thread: NIOLockedValueBox<JoinableThread?> = NIOLockedValueBox(nil)
    private let stopped = ManagedAtomic(false)

    private init(descriptor: Int32, wakeup: (Int32, Int32), names: Set<String>) {
        self.descriptor = descriptor
        self.wakeup = wakeup
        self.names = names
    }

    /// Watches the directories holding `paths`; nil when nothing could be watched.
    /// `settleMicroseconds` is how long a burst of events may run before `onChange`.
    static func start(paths: [String], name: String = "sluice-secrets", settleMicroseconds: UInt32 = 50_000, onChange: @escaping @Sendable () -> Void) -> FileChangeWatcher? {
        #if canImport(Glibc)
        let directories = Set(paths.map { path -> String in
            guard let slash = path.lastIndex(of: "/") else { return "." }
            return slash == path.startIndex ? "/" : String(path[..<slash])
        })
        guard !directories.isEmpty else { return nil }
        let descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY)
        var watched = 0
        for directory in directories where inotify_add_watch(descriptor, directory, mask) >= 0 {
            watched += 1
        }
        var pipeEnds: [Int32] = [0, 0]
        guard watched > 0, pipe(&pipeEnds) == 0 else {
            close(descriptor)
            return nil
        }
        let names = Set(paths.map { path -> String in
            guard let slash = path.lastIndex(of: "/") else { return path }
            return String(path[path.index(after: slash)...])
        })
        let watcher = FileChangeWatcher(descriptor: descriptor, wakeup: (pipeEnds[0], pipeEnds[1]), names: names)
        let thread = JoinableThread(name: name) { watcher.run(settle: settleMicroseconds, onChange: onChange) }
        guard let thread else {
            watcher.closeDescriptors()
            return nil
        }
        watcher.thread.withLockedValue { $0 = thread }
        return watcher
        #else
        return nil
        #endif
    }

    /// Whether any `inotify_event` in the first `count` bytes names a watched file (or a
    /// `..` entry of a Kubernetes volume, or carries no name: the directory itself).
    private func concernsWatchedFile(_ buffer: [UInt8], count: Int) -> Bool {
        let header = 16 // wd, mask, cookie, len: four 32-bit fields
        var offset = 0
        while offset + header <= count {
            let length = Int(UInt32(buffer[offset + 12]) | UInt32(buffer[offset + 13]) << 8 | UInt32(buffer[offset + 14]) << 16 | UInt32(buffer[offset + 15]) << 24)
            let start = offset + header
            let end = min(start + length, count)
            guard length > 0, start < end else { return true }
            let nameBytes = buffer[start..<end].prefix { $0 != 0 }
            let name = String(decoding: nameBytes, as: UTF8.self)
            if name.hasPrefix("..") || names.contains(name) { return true }
            offset = start + length
        }
        return false
    }

    /// Stops the thread and waits for it.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeup.write, &byte, 1)
        thread.withLockedValue { $0 }?.join()
        closeDescriptors()
    }

    private func closeDescriptors() {
        close(descriptor)
        close(wakeup.read)
        close(wakeup.write)
    }

    private func run(settle: UInt32, onChange: @Sendable () -> Void) {
        #if canImport(Glibc)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .acquiring) {
            var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeup.read, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 { if errno == EINTR { continue } else { return } }
            if fds[1].revents != 0 || stopped.load(ordering: .acquiring) { return }
            // Let the rest of a rotation land, then drain the events and report once, if
            // one of them concerns a watched file.
            usleep(settle)
            var relevant = false
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                guard count > 0 else { break }
                if !relevant { relevant = concernsWatchedFile(buffer, count: count) }
            }
            if relevant { onChange() }
        }
        #endif
    }
}
