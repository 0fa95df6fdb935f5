package strand

// MetaCaller is the key of a task's meta that carries the identity of its
// caller (strand.Caller, writer.Config.Caller), for authorisation.
const MetaCaller = "caller"
