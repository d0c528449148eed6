// A StatsD backend for telescope's interoperability test: each flush of the Etsy daemon is
// printed as one JSON line (the console backend prints JavaScript, not JSON).
exports.init = function (startupTime, config, events) {
  events.on('flush', function (timestamp, metrics) {
    process.stdout.write(
      JSON.stringify({ counters: metrics.counters, gauges: metrics.gauges }) + '\n'
    );
  });
  return true;
};
