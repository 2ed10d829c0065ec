// loss=, kd_temp=, kd_weight= and teacher= of e2eqp and fullqat: bad values are refused with an
// error naming the key, the value and what to give instead; loss=kd runs and its summary line says so.
import QATInterp
import Testing

@Suite(.serialized) struct DistillationVerbTests {
    @Test func badDistillationSettingsGiveClearErrors() throws {
        let s = Session()
        try s.run("q = quantize tiny method=rtn bits=4 group=32")
        let cases: [(String, String)] = [
            ("e2eqp q loss=kd kd_temp=0", "kd_temp=0.0 is not a temperature"),
            ("e2eqp q loss=kd kd_temp=-2", "kd_temp=-2.0 is not a temperature"),
            ("e2eqp q loss=ce+kd kd_weight=2", "kd_weight=2.0 is outside 0...1"),
            ("e2eqp q loss=foo", "loss= must be one of ce|kd|ce+kd"),
            ("e2eqp q kd_temp=2", "kd_temp= has no effect with loss=ce"),
            ("e2eqp q loss=kd kd_weight=0.3", "kd_weight= has no effect with loss=kd"),
            ("fullqat tiny loss=ce+kd kd_weight=-0.1", "kd_weight=-0.1 is outside 0...1"),
            ("e2eqp q loss=kd teacher=/nonexistent/model", "nonexistent"),
        ]
        for (line, words) in cases {
            let e = s.error(line + " samples=4 val=1 seqlen=16 max_steps=1")
            #expect(e?.message.contains(words) == true, "\(line): \(e.map { "\($0)" } ?? "no error")")
        }
    }

    @Test func kdRunsWithTheRecordedSourceAsTeacher() throws {
        let s = Session()
        try s.run("q = quantize tiny method=rtn bits=4 group=32")
        try s.run("e = e2eqp q loss=ce+kd kd_temp=2 kd_weight=0.25 samples=8 val=2 seqlen=32 max_steps=2")
        #expect(s.output.contains("e2eqp steps=2 loss=ce+kd "), "\(s.output)")
        try s.run("f = fullqat tiny bits=4 group=32 loss=kd samples=8 val=2 seqlen=32 max_steps=1")
        #expect(s.output.contains("stopped_by=max_steps loss=kd "), "\(s.output)")
    }
}
