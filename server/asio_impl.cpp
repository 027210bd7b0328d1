// The one translation unit that compiles Boost.Asio (and its SSL part);
// every other file sees only declarations (BOOST_ASIO_SEPARATE_COMPILATION).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
