import Dispatch
import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import SluiceSidecar

#if canImport(Glibc)
import Glibc
#endif

@Suite struct AccessLogSinkTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sluice-access-\(UUID().uuidString).log").path
    }

    func lines(at path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func closeWritesEveryAcceptedLineFromManyThreads() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<5_000 { sink.write("{\"thread\":\(thread),\"n\":\(index)}") }
        }
        sink.close()
        let written = try lines(at: path)
        #expect(written.count == 20_000)
        #expect(Set(written).count == 20_000)
        #expect(sink.droppedLines == 0)
    }

    @Test func writeAfterCloseIsIgnoredAndCloseTwiceIsSafe() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        sink.write("before")
        sink.close()
        sink.write("after")
        sink.close()
        sink.flush()
        #expect(try lines(at: path) == ["before"])
    }

    @Test func closeJoinsTheWriterThread() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        sink.write("x")
        sink.flush()
        let writer = sink.writerThreadID
        #expect(writer != 0)
        #expect(FileManager.default.fileExists(atPath: "/proc/self/task/\(writer)"))
        #expect(Self.threadName(writer) == "sluice-log")
        sink.close()
        // Joined: the thread has exited by the time close() returns.
        #expect(!FileManager.default.fileExists(atPath: "/proc/self/task/\(writer)"))
    }

    @Test func fullBufferDropsAndCountsLinesAndWarnsOnce() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let warnings = NIOLockedValueBox<[String]>([])
        // Nobody reads the pipe yet: the writer blocks once the pipe (64 KiB) is full,
        // so lines pile up in the sink's 256 KiB buffer and then overflow it.
        let sink = AccessLogSink(fileDescriptor: fds[1], ownsDescriptor: true, bufferLimit: 256 << 10) { message in
            warnings.withLockedValue { $0.append(message) }
        }
        let line = String(repeating: "a", count: 1023)
        let total = 4_000
        for _ in 0..<total { sink.write(line) }
        let dropped = sink.droppedLines
        // 4,000 KiB offered; at most the buffer, one batch in flight and the pipe held.
        #expect(dropped >= total - (256 + 256 + 64 + 64))
        // Now drain the pipe; close() then writes everything accepted and closes it.
        let readEnd = fds[0]
        let received = NIOLockedValueBox(0)
        let reader = Thread {
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            var count = 0
            while true {
                let got = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if got <= 0 { break }
                count += got
            }
            received.withLockedValue { $0 = count }
        }
        reader.start()
        sink.close()
        #expect(sink.droppedLines == dropped)
        var waited = 0
        while received.withLockedValue({ $0 }) == 0 && waited < 10_000 {
            usleep(1_000)
            waited += 1
        }
        #expect(received.withLockedValue { $0 } == (total - dropped) * 1024)
        #expect(warnings.withLockedValue { $0.count } == 1)
        _ = close(readEnd)
    }

    @Test func writerSleepsWhileThereIsNothingToWrite() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        #expect(sink.writerWakeups == 0)
        sink.write("one")
        sink.flush()
        #expect(sink.writerWakeups == 1)
        // The old writer polled every 20 ms: 10 wake-ups in this pause. This one waits on
        // a condition variable until a line comes.
        usleep(200_000)
        #expect(sink.writerWakeups == 1)
        sink.write("two")
        sink.flush()
        #expect(sink.writerWakeups == 2)
        sink.close()
        #expect(try lines(at: path) == ["one", "two"])
    }

    @Test func linesWrittenTogetherGoOutInFewBatches() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sink = try AccessLogSink(destination: .file(path))
        for index in 0..<10_000 { sink.write("line \(index)") }
        sink.close()
        #expect(try lines(at: path).count == 10_000)
        #expect(sink.writerWakeups < 10_000)
    }

    @Test func discardWritesNothingAndNeedsNoThread() throws {
        let sink = try AccessLogSink(destination: .discard)
        #expect(!sink.isEnabled)
        sink.write("x")
        sink.flush()
        sink.close()
        #expect(sink.writerWakeups == 0)
    }

    static func threadName(_ id: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/self/task/\(id)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
