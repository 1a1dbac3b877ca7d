import NIOCore
import Testing
@testable import SluiceSidecar

@Suite struct HTTP1TimeoutStateMachineTests {
    typealias Machine = HTTP1TimeoutStateMachine
    /// Head 10 s, body 30 s, keep-alive 120 s: the flag defaults, all different, so the
    /// wrong timer cannot pass a test.
    static let limits = Machine.Configuration(requestHead: .seconds(10), requestBody: .seconds(30), keepAlive: .seconds(120))

    /// The time `seconds` after an arbitrary origin.
    func t(_ seconds: Double) -> NIODeadline {
        .uptimeNanoseconds(1_000_000_000_000 + UInt64(seconds * 1_000_000_000))
    }

    func started(at seconds: Double = 0, _ configuration: Machine.Configuration = limits) -> Machine {
        var machine = Machine(configuration: configuration)
        _ = machine.connectionStarted(now: t(seconds))
        return machine
    }

    /// A machine with one request whose head arrived at `head` seconds.
    func inBody(head: Double = 0) -> Machine {
        var machine = started()
        _ = machine.bytesReceived(now: t(head))
        _ = machine.requestHeadReceived(now: t(head))
        return machine
    }

    /// A machine idle in keep-alive since `since` seconds (one request served).
    func keepingAlive(since: Double) -> Machine {
        var machine = inBody(head: 0)
        _ = machine.requestEnded(now: t(0))
        _ = machine.responseEnded(now: t(since))
        return machine
    }

    // MARK: head

    @Test func firstHeadIsDueFromAccept() {
        var machine = Machine(configuration: Self.limits)
        #expect(machine.connectionStarted(now: t(0)) == .arm(t(10)))
        #expect(machine.timerFired(now: t(9.999)) == .arm(t(10)))
        // Nothing was sent: close without a 408.
        #expect(machine.timerFired(now: t(10)) == .close(.requestHeadTimeout, send408: false))
        #expect(machine.isClosed)
    }

    @Test func slowlorisIsClosedAtTheHeadTimeoutHoweverOftenItSends() {
        var machine = started()
        for second in stride(from: 1.0, through: 9.0, by: 2.0) {
            #expect(machine.bytesReceived(now: t(second)) == .none)
            #expect(machine.timerFired(now: t(second)) == .arm(t(10)))
        }
        #expect(machine.timerFired(now: t(10)) == .close(.requestHeadTimeout, send408: true))
    }

    @Test func headInTimeStartsTheBodyClock() {
        var machine = started()
        _ = machine.bytesReceived(now: t(1))
        #expect(machine.requestHeadReceived(now: t(9)) == .arm(t(39)))
        // The head timer armed earlier fires at 10 and moves on to the body deadline.
        #expect(machine.timerFired(now: t(10)) == .arm(t(39)))
    }

    @Test func connectionStartedTwiceKeepsTheFirstTime() {
        var machine = started(at: 0)
        #expect(machine.connectionStarted(now: t(5)) == .none)
        #expect(machine.deadline == t(10))
    }

    @Test func bytesBeforeStartStartTheHeadClock() {
        var machine = Machine(configuration: Self.limits)
        #expect(machine.bytesReceived(now: t(3)) == .arm(t(13)))
        #expect(machine.timerFired(now: t(13)) == .close(.requestHeadTimeout, send408: true))
    }

    // MARK: body

    @Test func eachBodyByteExtendsTheBodyDeadlineLazily() {
        var machine = inBody(head: 0)
        #expect(machine.requestBodyReceived(now: t(20)) == .none)
        #expect(machine.deadline == t(50))
        #expect(machine.timerFired(now: t(30)) == .arm(t(50)))
        #expect(machine.requestBodyReceived(now: t(45)) == .none)
        #expect(machine.timerFired(now: t(50)) == .arm(t(75)))
        #expect(machine.timerFired(now: t(74.9)) == .arm(t(75)))
        #expect(machine.timerFired(now: t(75)) == .close(.requestBodyTimeout, send408: true))
    }

    @Test func bodyStallAfterAnEarlyResponseHeadClosesWithout408() {
        var machine = inBody(head: 0)
        #expect(machine.responseHeadSent() == .none)
        #expect(machine.timerFired(now: t(30)) == .close(.requestBodyTimeout, send408: false))
    }

    @Test func bodyClockIsSuspendedWhileTheServerIsNotReading() {
        var machine = inBody(head: 0)
        #expect(machine.readCompleted() == .none)
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: t(100)) == .none)
        #expect(machine.readRequested(now: t(100)) == .arm(t(130)))
        #expect(machine.timerFired(now: t(129)) == .arm(t(130)))
        #expect(machine.timerFired(now: t(130)) == .close(.requestBodyTimeout, send408: true))
    }

    @Test func readRequestWithoutPauseChangesNothing() {
        var machine = inBody(head: 0)
        #expect(machine.readRequested(now: t(20)) == .none)
        #expect(machine.deadline == t(30))
    }

    @Test func pausedReadsDoNotSuspendTheHeadClock() {
        var machine = started()
        _ = machine.bytesReceived(now: t(1))
        #expect(machine.readCompleted() == .none)
        #expect(machine.deadline == t(10))
        #expect(machine.readRequested(now: t(8)) == .none)
        #expect(machine.deadline == t(10))
    }

    @Test func bodyPartsOutsideTheBodyPhaseAreIgnored() {
        var machine = started()
        #expect(machine.requestBodyReceived(now: t(5)) == .none)
        #expect(machine.deadline == t(10))
    }

    // MARK: waiting for the response

    @Test func noClientDeadlineWhileTheServerAnswers() {
        var machine = inBody(head: 0)
        #expect(machine.requestEnded(now: t(1)) == .none)
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: t(1000)) == .none)
        #expect(!machine.isClosed)
    }

    // MARK: keep-alive

    @Test func keepAliveStartsWhenTheResponseEnds() {
        var machine = inBody(head: 0)
        _ = machine.requestEnded(now: t(1))
        #expect(machine.responseEnded(now: t(50)) == .arm(t(170)))
        #expect(machine.timerFired(now: t(169)) == .arm(t(170)))
        #expect(machine.timerFired(now: t(170)) == .close(.keepAliveTimeout, send408: false))
    }

    @Test func firstByteAfterKeepAliveStartsTheHeadClock() {
        var machine = keepingAlive(since: 50)
        #expect(machine.bytesReceived(now: t(60)) == .arm(t(70)))
        #expect(machine.bytesReceived(now: t(65)) == .none)
        #expect(machine.timerFired(now: t(70)) == .close(.requestHeadTimeout, send408: true))
    }

    @Test func secondRequestRunsTheSamePhases() {
        var machine = keepingAlive(since: 50)
        _ = machine.bytesReceived(now: t(60))
        #expect(machine.requestHeadReceived(now: t(61)) == .arm(t(91)))
        #expect(machine.requestEnded(now: t(62)) == .none)
        #expect(machine.responseHeadSent() == .none)
        #expect(machine.responseEnded(now: t(63)) == .arm(t(183)))
    }

    @Test func earlyResponseThenRequestEndStartsKeepAliveAtTheRequestEnd() {
        var machine = inBody(head: 0)
        _ = machine.responseHeadSent()
        #expect(machine.responseEnded(now: t(5)) == .none)
        // The body is still being read (NIO keeps reading it after an early answer).
        #expect(machine.deadline == t(30))
        _ = machine.requestBodyReceived(now: t(6))
        #expect(machine.requestEnded(now: t(8)) == .arm(t(128)))
        #expect(machine.timerFired(now: t(128)) == .close(.keepAliveTimeout, send408: false))
    }

    @Test func noSecond408AfterACompleteEarlyResponse() {
        var machine = inBody(head: 0)
        _ = machine.responseHeadSent()
        _ = machine.responseEnded(now: t(1))
        // The request's answer is on the wire: a 408 now would be an unsolicited response.
        #expect(machine.timerFired(now: t(30)) == .close(.requestBodyTimeout, send408: false))
    }

    @Test func withoutKeepAliveLimitIdleHasNoDeadline() {
        var machine = started(at: 0, Machine.Configuration(requestHead: .seconds(10), requestBody: .seconds(30), keepAlive: nil))
        _ = machine.requestHeadReceived(now: t(0))
        _ = machine.requestEnded(now: t(0))
        #expect(machine.responseEnded(now: t(1)) == .none)
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: t(10_000)) == .none)
    }

    // MARK: pipelining

    @Test func pipelinedBytesDuringTheResponseStartTheHeadClockAtTheResponseEnd() {
        var machine = inBody(head: 0)
        _ = machine.requestEnded(now: t(1))
        #expect(machine.bytesReceived(now: t(2)) == .none)
        #expect(machine.timerFired(now: t(50)) == .none)
        #expect(machine.responseEnded(now: t(100)) == .arm(t(110)))
        #expect(machine.timerFired(now: t(110)) == .close(.requestHeadTimeout, send408: true))
    }

    @Test func pipelinedHeadReleasedAtTheResponseEndStartsItsBody() {
        var machine = inBody(head: 0)
        _ = machine.requestEnded(now: t(1))
        _ = machine.bytesReceived(now: t(2))
        _ = machine.responseHeadSent()
        _ = machine.responseEnded(now: t(100))
        // NIO's pipeline handler hands the buffered head over right after the end is written.
        #expect(machine.requestHeadReceived(now: t(100)) == .arm(t(130)))
        #expect(machine.requestEnded(now: t(100)) == .none)
        #expect(machine.timerFired(now: t(500)) == .none)
    }

    @Test func responseForANewRequestResetsResponseStarted() {
        var machine = inBody(head: 0)
        _ = machine.responseHeadSent()
        _ = machine.requestEnded(now: t(0))
        _ = machine.responseEnded(now: t(1))
        _ = machine.bytesReceived(now: t(2))
        _ = machine.requestHeadReceived(now: t(2))
        #expect(machine.timerFired(now: t(32)) == .close(.requestBodyTimeout, send408: true))
    }

    // MARK: closed

    @Test func afterATimeoutEveryEventIsIgnored() {
        var machine = started()
        _ = machine.timerFired(now: t(10))
        #expect(machine.bytesReceived(now: t(11)) == .none)
        #expect(machine.requestHeadReceived(now: t(11)) == .none)
        #expect(machine.requestBodyReceived(now: t(11)) == .none)
        #expect(machine.requestEnded(now: t(11)) == .none)
        #expect(machine.responseEnded(now: t(11)) == .none)
        #expect(machine.readRequested(now: t(11)) == .none)
        #expect(machine.timerFired(now: t(1000)) == .none)
        #expect(machine.deadline == nil)
    }

    @Test func connectionClosedStopsTiming() {
        var machine = inBody(head: 0)
        machine.connectionClosed()
        #expect(machine.timerFired(now: t(1000)) == .none)
        #expect(machine.isClosed)
    }
}
