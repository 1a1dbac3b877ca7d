import NIOHTTP2
import Testing
@testable import SluiceSidecar

@Suite struct HTTP2DrainStateMachineTests {
    typealias Machine = HTTP2DrainStateMachine

    @Test func anIdleConnectionSaysGoAwayAtOnceNamingNoStream() {
        var machine = Machine()
        #expect(machine.drain() == .sendGoAwayAndClose(lastStreamID: .rootStream))
        #expect(machine.state == .closing)
        #expect(!machine.admitsNewStreams)
    }

    @Test func anIdleConnectionThatServedStreamsNamesTheLastOne() {
        var machine = Machine()
        machine.streamOpened(1)
        machine.streamOpened(3)
        #expect(machine.streamClosed(3) == .none)
        #expect(machine.streamClosed(1) == .none)
        #expect(machine.state == .serving)
        #expect(machine.drain() == .sendGoAwayAndClose(lastStreamID: 3))
    }

    @Test func goAwayWaitsForEveryStreamInFlightThenForTheAckOfAPingBehindThem() {
        var machine = Machine()
        machine.streamOpened(1)
        machine.streamOpened(3)
        machine.streamOpened(5)
        #expect(machine.drain() == .none)
        #expect(machine.state == .draining)
        #expect(!machine.admitsNewStreams)
        #expect(machine.streamClosed(5) == .none)
        #expect(machine.streamClosed(1) == .none)
        #expect(machine.inFlight == [3])
        #expect(machine.streamClosed(3) == .sendPing)
        #expect(machine.state == .confirming)
        #expect(machine.pingAcked() == .sendGoAwayAndClose(lastStreamID: 5))
        #expect(machine.state == .closing)
        #expect(machine.ackTimedOut() == .none, "the timer of an acked PING does nothing")
    }

    @Test func withoutAnAckTheGoAwayComesWhenTheTimerFires() {
        var machine = Machine()
        machine.streamOpened(1)
        #expect(machine.drain() == .none)
        #expect(machine.streamClosed(1) == .sendPing)
        #expect(machine.ackTimedOut() == .sendGoAwayAndClose(lastStreamID: 1))
        #expect(machine.pingAcked() == .none, "a late ack does nothing")
        #expect(machine.state == .closing)
    }

    @Test func acksAndTimersOutsideTheDrainDoNothing() {
        var machine = Machine()
        machine.streamOpened(1)
        #expect(machine.pingAcked() == .none)
        #expect(machine.ackTimedOut() == .none)
        #expect(machine.state == .serving)
        #expect(machine.drain() == .none)
        #expect(machine.pingAcked() == .none, "no PING was sent while the stream is in flight")
        #expect(machine.ackTimedOut() == .none)
        #expect(machine.state == .draining)
    }

    @Test func streamsOpenedDuringTheDrainAreRefusedNotWaitedForNorNamed() {
        var machine = Machine()
        machine.streamOpened(1)
        #expect(machine.drain() == .none)
        machine.streamOpened(3)  // refused by the stream initializer
        #expect(machine.inFlight == [1])
        #expect(machine.streamClosed(3) == .none)
        #expect(machine.state == .draining)
        #expect(machine.streamClosed(1) == .sendPing)
        machine.streamOpened(5)  // refused too, while the PING is out
        #expect(machine.streamClosed(5) == .none)
        #expect(machine.pingAcked() == .sendGoAwayAndClose(lastStreamID: 1))
    }

    @Test func aSecondDrainAndLaterEventsDoNothing() {
        var machine = Machine()
        machine.streamOpened(1)
        #expect(machine.drain() == .none)
        #expect(machine.drain() == .none)
        #expect(machine.streamClosed(1) == .sendPing)
        #expect(machine.drain() == .none)
        #expect(machine.pingAcked() == .sendGoAwayAndClose(lastStreamID: 1))
        #expect(machine.drain() == .none)
        machine.streamOpened(3)
        #expect(machine.streamClosed(3) == .none)
        #expect(machine.streamClosed(1) == .none)
        #expect(machine.pingAcked() == .none)
        #expect(machine.state == .closing)
    }

    @Test func closingAnUnknownStreamChangesNothing() {
        var machine = Machine()
        machine.streamOpened(1)
        #expect(machine.drain() == .none)
        #expect(machine.streamClosed(7) == .none)
        #expect(machine.inFlight == [1])
        #expect(machine.state == .draining)
    }

    @Test func whileServingClosingStreamsNeverSaysGoAway() {
        var machine = Machine()
        for id in stride(from: 1, through: 9, by: 2) { machine.streamOpened(HTTP2StreamID(id)) }
        for id in stride(from: 1, through: 9, by: 2) { #expect(machine.streamClosed(HTTP2StreamID(id)) == .none) }
        #expect(machine.state == .serving)
        #expect(machine.admitsNewStreams)
        #expect(machine.lastServedStreamID == 9)
    }
}
