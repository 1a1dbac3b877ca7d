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
    private let thread: NIOLockedValueBox<JoinableThread?> = NIOLockedValueBox(nil)
    private let stopped = ManagedAtomic(false)

    private init(descriptor: Int32, wakeup: (Int32, Int32)) {
        self.descriptor = descriptor
        self.wakeup = wakeup
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
        let watcher = FileChangeWatcher(descriptor: descriptor, wakeup: (pipeEnds[0], pipeEnds[1]))
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
            // Let the rest of a rotation land, then drain the events and report once.
            usleep(settle)
            while read(descriptor, &buffer, buffer.count) > 0 {}
            onChange()
        }
        #endif
    }
}
